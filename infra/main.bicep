// imageferry: the Azure resources of one environment (azd convention: `azd provision` deploys this
// file at subscription scope with infra/main.parameters.json).
//
// Creates a resource group with
//   - a Service Bus namespace (Standard: topics need it) with the step queues and the
//     `deployment-events` topic of servicebus.entities.json (modules/servicebus.bicep);
//   - a Flex Consumption Function App for the Rust custom handler, its host storage, Application
//     Insights + Log Analytics, and a user-assigned identity that the app registration trusts as a
//     federated credential (modules/functionapp.bicep);
//   - a Key Vault for Windows VM admin passwords, or role assignments on an existing one
//     (modules/keyvault.bicep, modules/keyvault-access.bicep);
//   - the data-plane role assignments (modules/servicebus-access.bicep, modules/app-access.bicep,
//     modules/keyvault-access.bicep).
//
// What this deployment does not do (docs/DEPLOY.md and docs/ONBOARDING.md have the commands): the
// Entra app registration, its federated credential for the user-assigned identity, admin consent in
// tenant 2. The roles in the other tenants are separate entry points, because one Bicep deployment
// runs in one tenant: infra/publisher/main.bicep (tenant 1: gallery read role, Event Grid system
// topic to the `image-version-published` queue) and infra/target/main.bicep (tenant 2: the
// least-privilege deployer role on the target resource group).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Azure region of every resource. Pick one that offers the Flex Consumption plan (`az functionapp list-flexconsumption-locations`).')
param location string

@description('Application (client) id of the multi-tenant app registration (app setting AZURE_CLIENT_ID).')
param appClientId string

@description('Object id of the app registration\'s service principal in the home tenant (`az ad sp show --id <appClientId> --query id -o tsv`). The handler sends Service Bus messages and reads Key Vault secrets with the app registration\'s token, so this principal gets Azure Service Bus Data Sender and Key Vault Secrets User. Empty: assign them by hand (docs/DEPLOY.md).')
param appServicePrincipalObjectId string = ''

@description('Home tenant of the app registration (app setting AZURE_TENANT_ID). Default: the tenant of this deployment.')
param homeTenantId string = tenant().tenantId

@minLength(1)
@description('IMAGEFERRY_ALLOWED_GALLERIES: comma-separated gallery resource ids, /SharedGalleries/{name}, /CommunityGalleries/{name}, or *.')
param allowedGalleries string

@minLength(1)
@description('IMAGEFERRY_ALLOWED_TARGETS: comma-separated tenant/subscription[/resourceGroup], or *.')
param allowedTargets string

@description('IMAGEFERRY_CREATE_RESOURCE_GROUP: create a missing target resource group.')
param createResourceGroup bool = false

@minValue(2)
@maxValue(2000)
@description('MaxDeliveryCount of the step queues, passed to the app as IMAGEFERRY_MAX_DELIVERY_COUNT (the last delivery records `failed` instead of dead-lettering silently). Default: the value in servicebus.entities.json.')
param maxDeliveryCount int = loadJsonContent('servicebus.entities.json', '$.queues[0].properties.maxDeliveryCount')

@description('Service Bus duplicate detection window of the queues and the topic (ISO 8601, 20 s to 7 days). Default: the value in servicebus.entities.json.')
param duplicateDetectionWindow string = loadJsonContent('servicebus.entities.json', '$.queues[0].properties.duplicateDetectionHistoryTimeWindow')

@description('Name of an existing Key Vault that holds Windows admin passwords. Empty: create one.')
param existingKeyVaultName string = ''

@description('Resource group of existingKeyVaultName (same subscription). Empty: the environment\'s resource group.')
param existingKeyVaultResourceGroup string = ''

@description('Changes the name of the created Key Vault. The vault has purge protection, so after `azd down` its name stays taken for 90 days; set any new value (IMAGEFERRY_KEY_VAULT_NAME_SALT) to provision again in that time.')
param keyVaultNameSalt string = ''

@description('IMAGEFERRY_DEFAULT_DEADLINE: deadline of a request that names none.')
param defaultDeadline string = '24h'

@description('IMAGEFERRY_REPLICATION_BACKOFF_INITIAL: first replication re-check delay.')
param replicationBackoffInitial string = '15s'

@description('IMAGEFERRY_REPLICATION_BACKOFF_CAP: longest replication re-check delay.')
param replicationBackoffCap string = '60s'

@description('IMAGEFERRY_PROVISIONING_POLL: delay between VM provisioning polls.')
param provisioningPoll string = '15s'

@description('IMAGEFERRY_ROLLOUT_CHECK_INTERVAL: delay between checks of a rollout ring.')
param rolloutCheckInterval string = '60s'

@description('RUST_LOG of the handler: a level, a target or target=level, comma-separated.')
param rustLog string = 'info'

@description('Comma-separated principal (object) ids given Storage Table Data Reader on the `deployments` status table (pipelines that run `imageferry status` or `imageferry request --wait`); azd: IMAGEFERRY_STATUS_READER_PRINCIPAL_IDS.')
param statusReaderPrincipalIds string = ''

@allowed([512, 2048, 4096])
@description('Flex Consumption instance memory (MB).')
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
@description('Flex Consumption maximum instance count (40 is the lowest maximum the plan documents).')
param maximumInstanceCount int = 40

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'imageferry'
}
var createKeyVault = empty(existingKeyVaultName)
var keyVaultToken = empty(keyVaultNameSalt) ? resourceToken : toLower(uniqueString(subscription().id, environmentName, location, keyVaultNameSalt))
var keyVaultName = createKeyVault ? 'kv-${keyVaultToken}' : existingKeyVaultName
var statusReaders = empty(statusReaderPrincipalIds) ? [] : split(statusReaderPrincipalIds, ',')
var keyVaultResourceGroupName = (createKeyVault || empty(existingKeyVaultResourceGroup)) ? rg.name : existingKeyVaultResourceGroup

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: tags
    maxDeliveryCount: maxDeliveryCount
    duplicateDetectionWindow: duplicateDetectionWindow
  }
}

module keyVault 'modules/keyvault.bicep' = if (createKeyVault) {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    resourceToken: resourceToken
    location: location
    tags: tags
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    eventsTopicName: serviceBus.outputs.eventsTopicName
    appClientId: appClientId
    homeTenantId: homeTenantId
    allowedGalleries: allowedGalleries
    allowedTargets: allowedTargets
    createResourceGroup: createResourceGroup
    maxDeliveryCount: maxDeliveryCount
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    defaultDeadline: defaultDeadline
    replicationBackoffInitial: replicationBackoffInitial
    replicationBackoffCap: replicationBackoffCap
    provisioningPoll: provisioningPoll
    rolloutCheckInterval: rolloutCheckInterval
    rustLog: rustLog
  }
}

module serviceBusAccess 'modules/servicebus-access.bicep' = {
  name: 'servicebus-access'
  scope: rg
  params: {
    namespaceName: serviceBus.outputs.name
    functionAppPrincipalId: functionApp.outputs.systemPrincipalId
    appServicePrincipalObjectId: appServicePrincipalObjectId
  }
}

module appAccess 'modules/app-access.bicep' = {
  name: 'app-access'
  scope: rg
  params: {
    storageAccountName: functionApp.outputs.storageAccountName
    statusTableName: functionApp.outputs.statusTableName
    appInsightsName: functionApp.outputs.applicationInsightsName
    functionAppPrincipalId: functionApp.outputs.systemPrincipalId
    appServicePrincipalObjectId: appServicePrincipalObjectId
    statusReaderPrincipalIds: statusReaders
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    functionAppPrincipalId: functionApp.outputs.systemPrincipalId
    appServicePrincipalObjectId: appServicePrincipalObjectId
  }
  dependsOn: [
    keyVault
  ]
}

// Outputs azd stores in .azure/<env>/.env (and docs/DEPLOY.md uses).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = homeTenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = functionApp.outputs.systemPrincipalId
output FEDERATED_IDENTITY_NAME string = functionApp.outputs.federatedIdentityName
output FEDERATED_IDENTITY_PRINCIPAL_ID string = functionApp.outputs.federatedIdentityPrincipalId
output FEDERATED_IDENTITY_CLIENT_ID string = functionApp.outputs.federatedIdentityClientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICEBUS_EVENTS_TOPIC string = serviceBus.outputs.eventsTopicName
output SERVICEBUS_TERMINAL_SUBSCRIPTION string = serviceBus.outputs.terminalSubscriptionName
output STORAGE_ACCOUNT_NAME string = functionApp.outputs.storageAccountName
output IMAGEFERRY_STATUS_TABLE_ENDPOINT string = functionApp.outputs.statusTableEndpoint
output IMAGEFERRY_STATUS_TABLE_NAME string = functionApp.outputs.statusTableName
output KEY_VAULT_NAME string = keyVaultName
output KEY_VAULT_RESOURCE_GROUP string = keyVaultResourceGroupName
output STORAGE_ACCOUNT_NAME string = functionApp.outputs.storageAccountName
output IMAGEFERRY_STATUS_TABLE_ENDPOINT string = functionApp.outputs.statusTableEndpoint
output IMAGEFERRY_STATUS_TABLE string = functionApp.outputs.statusTableName
output SERVICEBUS_NAMESPACE_ID string = serviceBus.outputs.id
output IMAGE_VERSION_PUBLISHED_QUEUE string = 'image-version-published'
output APPLICATIONINSIGHTS_NAME string = functionApp.outputs.applicationInsightsName
