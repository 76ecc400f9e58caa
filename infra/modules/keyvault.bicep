// A Key Vault for Windows VM admin passwords (requests carry `adminPasswordSecretId`, a secret id in
// this vault; the handler reads it with the app registration's token when it creates the VM).
// RBAC authorization (no access policies); soft delete and purge protection on.
// Purge protection keeps a deleted vault's name taken for the retention period: after `azd down`
// the next `azd up` with the same name fails ("vault ... is in a deleted state"). main.bicep salts
// the name with the parameter keyVaultNameSalt (IMAGEFERRY_KEY_VAULT_NAME_SALT) for that case.
// Resource reference: https://learn.microsoft.com/azure/templates/microsoft.keyvault/2023-07-01/vaults

param name string
param location string
param tags object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: the Flex Consumption app has no virtual network integration and no fixed outbound addresses to allow; access is Entra RBAC only (Key Vault Secrets User per principal).
  // checkov:skip=CKV_AZURE_189: same reason: public network access is needed without a virtual network; RBAC decides who reads.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
