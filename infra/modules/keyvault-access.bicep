// Key Vault Secrets User on the vault that holds Windows admin passwords (a new one from
// keyvault.bicep, or an existing RBAC-mode vault; deployed into the vault's resource group).
// Built-in role id (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security):
//   Key Vault Secrets User 4633458b-17de-408a-b874-0445c86b69e6
// The handler reads secrets with the app registration's token in the home tenant
// (handlers/src/steps/image_version_replicated.rs), so the app registration's service principal
// needs the role; the Function App's system-assigned identity gets it too (Key Vault references in
// app settings resolve with that identity).

param keyVaultName string

@description('Principal id of the Function App\'s system-assigned identity.')
param functionAppPrincipalId string

@description('Object id of the app registration\'s service principal in the home tenant; empty: no assignment.')
param appServicePrincipalObjectId string = ''

var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource functionAppSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, functionAppPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

resource appRegistrationSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(appServicePrincipalObjectId)) {
  name: guid(vault.id, appServicePrincipalObjectId, secretsUser)
  scope: vault
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

output uri string = vault.properties.vaultUri
