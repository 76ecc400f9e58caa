// Data-plane roles on the Function App's own resources: host storage, the `deployments` status
// table and Application Insights.
//
// A separate module because a role assignment's name must be computable when the deployment starts
// (Bicep BCP120): the principal ids arrive here as parameters, so `guid(scope, principalId, role)`
// is known up front. Names derive from the principal id, not the app's resource id: a recreated app
// gets a new identity, and a name derived from the unchanged resource id would collide with the old
// assignment (RoleAssignmentUpdateNotPermitted).
//
// Who needs what:
//   - the Function App's system-assigned identity: the host's storage (AzureWebJobsStorage and
//     the Flex deployment container: Storage Blob Data Owner; the host's diagnostic tables:
//     Storage Table Data Contributor) and Entra-authenticated telemetry (Monitoring Metrics
//     Publisher; the component has DisableLocalAuth);
//   - the app registration's service principal: the handler writes the status table with the app
//     registration's token (crates/status-store, the same credential as Service Bus and Key Vault),
//     so it gets Storage Table Data Contributor on the `deployments` table only;
//   - readers (pipelines, operators): Storage Table Data Reader on the `deployments` table only.
// https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
// Built-in role ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles):
// storage: Storage Blob Data Owner, Storage Table Data Contributor, Storage Table Data Reader;
// monitor: Monitoring Metrics Publisher.

param storageAccountName string

param statusTableName string

param appInsightsName string

@description('Principal id of the Function App\'s system-assigned identity.')
param functionAppPrincipalId string

@description('Object id of the app registration\'s service principal in the home tenant; empty: no assignment (assign it by hand, docs/DEPLOY.md).')
param appServicePrincipalObjectId string = ''

@description('Principal (object) ids given Storage Table Data Reader on the status table (blank entries and spaces around ids are ignored).')
param statusReaderPrincipalIds array = []

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var storageTableDataReader = '76199698-9eea-4c19-bc75-cec21354c6b6'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource statusTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  parent: tableService
  name: statusTableName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource storageBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionAppPrincipalId, storageBlobDataOwner)
  scope: storage
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
  }
}

resource storageTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, functionAppPrincipalId, storageTableDataContributor)
  scope: storage
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

resource statusTableWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(appServicePrincipalObjectId)) {
  name: guid(statusTable.id, appServicePrincipalObjectId, storageTableDataContributor)
  scope: statusTable
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributor)
  }
}

resource statusTableReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in statusReaderPrincipalIds: if (!empty(trim(principalId))) {
  name: guid(statusTable.id, trim(principalId), storageTableDataReader)
  scope: statusTable
  properties: {
    principalId: trim(principalId)
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataReader)
  }
}]

resource appInsightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, functionAppPrincipalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}
