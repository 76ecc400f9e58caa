// The Function App that runs the Rust custom handler, with its host storage and monitoring.
//
// Plan: Flex Consumption (FC1, Linux), runtime `custom` 1.0.
//   - Custom handlers deploy to every Azure Functions hosting option:
//     https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers#deploying
//   - Flex Consumption lists `custom` 1.0 among its runtimes (SKU FC1):
//     https://learn.microsoft.com/powershell/module/az.functions/get-azfunctionappflexconsumptionruntime
//   - Flex Consumption is the recommended serverless plan; the Linux Consumption plan (Y1) is being
//     retired (September 30, 2028) and gets no new features:
//     https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan
//     https://learn.microsoft.com/azure/azure-functions/migration/migrate-plan-consumption-to-flex
//   - Elastic Premium also runs custom handlers, but bills at least one always-on instance; nothing
//     here needs it (no function waits on Azure: steps schedule messages instead).
// On Flex the runtime is declared in functionAppConfig.runtime; the FUNCTIONS_WORKER_RUNTIME and
// FUNCTIONS_EXTENSION_VERSION app settings are deprecated there and rejected at deployment:
//   https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
// (locally, local.settings.json keeps FUNCTIONS_WORKER_RUNTIME=Custom, the casing the custom handler
// article uses: https://learn.microsoft.com/azure/azure-functions/functions-custom-handlers#localsettingsjson).
//
// Resource reference: https://learn.microsoft.com/azure/templates/microsoft.web/2024-04-01/sites
// (functionAppConfig exists from API 2023-12-01 on).

param resourceToken string
param location string
param tags object

@description('Service Bus namespace host name, e.g. sb-x.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string
param eventsTopicName string
param appClientId string
param homeTenantId string
param allowedGalleries string
param allowedTargets string
param createResourceGroup bool
param maxDeliveryCount int

// Handler timings and log filter. They are parameters (not settings changed by hand afterwards)
// because `azd provision` replaces the whole app-settings list on every run: a value set with
// `az functionapp config appsettings set` would be undone by the next provision.
param defaultDeadline string
param replicationBackoffInitial string
param replicationBackoffCap string
param provisioningPoll string
param rolloutCheckInterval string
param outageBudget string
param rustLog string

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

var functionAppName = 'func-${resourceToken}'
// Flex Consumption deploys from a blob container (the zip that `azd deploy` or
// `az functionapp deployment source config-zip` uploads).
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}'
// The deployment status store (one entity per deployment, PartitionKey = deployment id, RowKey
// `status`), written by the handler and read by `imageferry status` / `request --wait` and by the
// `rollout-check` step.
var statusTableName = 'deployments'

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Entra-only ingestion; the app authenticates with APPLICATIONINSIGHTS_AUTHENTICATION_STRING.
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is 'st' + uniqueString(), 15 lowercase letters and digits; checkov cannot evaluate the interpolation.
  // checkov:skip=CKV_AZURE_35: a Flex Consumption app without virtual network integration reaches its host storage over the public endpoint; shared keys are disabled, so only Entra identities with data roles get in.
  // checkov:skip=CKV_AZURE_59: same as CKV_AZURE_35 (public endpoint, identity-only access).
  // checkov:skip=CKV_AZURE_206: host storage holds only re-creatable state (locks, the deployment package); LRS is enough.
  name: 'st${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    // No keys: the host, the deployment and the app use managed identities.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// https://learn.microsoft.com/azure/templates/microsoft.storage/2023-05-01/storageaccounts/tableservices/tables
resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource statusTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: statusTableName
}

// The identity the multi-tenant app registration trusts as a federated credential. Entra accepts
// only user-assigned managed identities there ("system-assigned identities aren't supported"):
// https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity
resource federatedIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-fic-${resourceToken}'
  location: location
  tags: tags
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption requires always-ready instances (billed while idle); work waits durably in Service Bus queues, so a zone outage delays steps but loses none.
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: no HTTP functions (every trigger is a Service Bus queue), so there is no caller to present a client certificate.
  // checkov:skip=CKV_AZURE_16: managed identities are on (type 'SystemAssigned, UserAssigned'); the check only recognizes one kind at a time.
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales per function from zero on queue length; there are no fixed instances to count.
  // checkov:skip=CKV_AZURE_213: no HTTP endpoint to probe; the Functions host itself starts and watches the handler process (readiness on GET /).
  // checkov:skip=CKV_AZURE_78: checkov looks for siteConfig.ftpsState, which Flex Consumption refuses (error 51021); FTP is disabled by the `ftp` basicPublishingCredentialsPolicies resource below (allow: false).
  // checkov:skip=CKV_AZURE_222: Flex Consumption without virtual network integration needs the public endpoint for deployment; basic publishing credentials are disabled below.
  name: functionAppName
  location: location
  // azd finds the deployment target by this tag (service `handler` in azure.yaml).
  tags: union(tags, {
    'azd-service-name': 'handler'
  })
  kind: 'functionapp,linux'
  identity: {
    // System-assigned: host storage, the Service Bus trigger, the deployment container, Application
    // Insights. User-assigned: the app registration's federated credential.
    type: 'SystemAssigned, UserAssigned'
    userAssignedIdentities: {
      '${federatedIdentity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No `ftpsState`: Flex Consumption refuses it on newer clusters (error 51021). FTP is off
      // through the `ftp` basic publishing credentials policy below.
      http20Enabled: true
      appSettings: [
        // Host storage with the system-assigned identity (no connection string, no key):
        // https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        // `credential` pins the system-assigned identity: AZURE_CLIENT_ID below names the app
        // registration, not a managed identity, and Azure SDK credential chains read that variable.
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        // The Service Bus triggers (connection `ServiceBusConnection` in every function.json) and the
        // handler's sender read the namespace from here.
        {
          name: 'ServiceBusConnection__fullyQualifiedNamespace'
          value: serviceBusFullyQualifiedNamespace
        }
        {
          name: 'ServiceBusConnection__credential'
          value: 'managedidentity'
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'Authorization=AAD'
        }
        // The multi-tenant app registration; its credential is the user-assigned identity's token
        // for api://AzureADTokenExchange (a federated credential: no secret anywhere).
        {
          name: 'AZURE_CLIENT_ID'
          value: appClientId
        }
        {
          name: 'AZURE_TENANT_ID'
          value: homeTenantId
        }
        {
          name: 'IMAGEFERRY_CREDENTIAL'
          value: 'managed-identity-federated'
        }
        {
          name: 'IMAGEFERRY_MANAGED_IDENTITY_CLIENT_ID'
          value: federatedIdentity.properties.clientId
        }
        {
          name: 'IMAGEFERRY_ALLOWED_GALLERIES'
          value: allowedGalleries
        }
        {
          name: 'IMAGEFERRY_ALLOWED_TARGETS'
          value: allowedTargets
        }
        {
          name: 'IMAGEFERRY_CREATE_RESOURCE_GROUP'
          value: createResourceGroup ? 'true' : 'false'
        }
        {
          name: 'IMAGEFERRY_MAX_DELIVERY_COUNT'
          value: string(maxDeliveryCount)
        }
        {
          name: 'IMAGEFERRY_EVENTS_TOPIC'
          value: eventsTopicName
        }
        {
          name: 'IMAGEFERRY_DEFAULT_DEADLINE'
          value: defaultDeadline
        }
        {
          name: 'IMAGEFERRY_REPLICATION_BACKOFF_INITIAL'
          value: replicationBackoffInitial
        }
        {
          name: 'IMAGEFERRY_REPLICATION_BACKOFF_CAP'
          value: replicationBackoffCap
        }
        {
          name: 'IMAGEFERRY_PROVISIONING_POLL'
          value: provisioningPoll
        }
        {
          name: 'IMAGEFERRY_ROLLOUT_CHECK_INTERVAL'
          value: rolloutCheckInterval
        }
        {
          name: 'IMAGEFERRY_OUTAGE_BUDGET'
          value: outageBudget
        }
        // The rollout configuration ships in the package (scripts/package.sh); relative to the app root.
        {
          name: 'IMAGEFERRY_ROLLOUTS_FILE'
          value: 'rollouts.toml'
        }
        // The status store: table `deployments` in this storage account, over the Table REST API
        // with Entra tokens (Storage Table Data Contributor below).
        {
          name: 'IMAGEFERRY_STATUS_TABLE_ENDPOINT'
          value: storage.properties.primaryEndpoints.table
        }
        {
          name: 'IMAGEFERRY_STATUS_TABLE'
          value: statusTableName
        }
        {
          name: 'RUST_LOG'
          value: rustLog
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
  dependsOn: [
    deploymentContainer
  ]
}

// No FTP/SCM basic authentication: deployments use Entra (azd, az CLI).
resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

// The data-plane role assignments on the storage account, the status table and Application
// Insights are in modules/app-access.bicep: a role assignment's name must be computable when the
// deployment starts (Bicep BCP120), and the principal id of this app's identity is known only after
// the app exists, so it is passed to that module as a parameter.

output name string = functionApp.name
output id string = functionApp.id
output systemPrincipalId string = functionApp.identity.principalId
output federatedIdentityName string = federatedIdentity.name
output federatedIdentityPrincipalId string = federatedIdentity.properties.principalId
output federatedIdentityClientId string = federatedIdentity.properties.clientId
output storageAccountName string = storage.name
output statusTableEndpoint string = storage.properties.primaryEndpoints.table
output statusTableName string = statusTable.name
output applicationInsightsName string = appInsights.name
