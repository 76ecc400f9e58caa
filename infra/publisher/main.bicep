// imageferry, tenant 1 (the publisher): deploy into the subscription that holds the gallery, signed
// in to tenant 1. A separate entry point from infra/main.bicep because a Bicep deployment runs in
// one tenant (docs/ONBOARDING.md has the commands):
//
//   az deployment sub create --location <region> --template-file infra/publisher/main.bicep \
//     --parameters galleryResourceGroup=<rg> galleryName=<gallery> appServicePrincipalObjectId=<sp> \
//                  serviceBusNamespaceId=<SERVICEBUS_NAMESPACE_ID output of azd>
//
// Creates
//   - the app registration's read access to the gallery: the built-in Reader role, or (default) a
//     custom role with only the three gallery read actions (modules/gallery-reader.bicep);
//   - an Event Grid system topic for the subscription (topic type Microsoft.Resources.Subscriptions)
//     with one event subscription that delivers `Microsoft.Resources.ResourceWriteSuccess` events
//     for `Microsoft.Compute/galleries/images/versions/write` on this gallery to the
//     `image-version-published` queue, authenticated with the system topic's managed identity
//     (modules/eventgrid.bicep); the identity gets Azure Service Bus Data Sender on that one queue
//     (modules/queue-sender.bicep, deployed into the Service Bus namespace's subscription, which must
//     be in this tenant too: the Function App lives in the app registration's home tenant).
targetScope = 'subscription'

@description('Resource group of the gallery.')
param galleryResourceGroup string

@description('Name of the Azure Compute Gallery.')
param galleryName string

@description('Object id of the imageferry app registration\'s service principal in this tenant (`az ad sp show --id <appId> --query id -o tsv`).')
param appServicePrincipalObjectId string

@description('true: a custom role with only Microsoft.Compute/galleries/read, images/read and images/versions/read. false: the built-in Reader role (what Microsoft\'s cross-tenant article uses).')
param useCustomReadRole bool = true

@description('Resource id of the imageferry Service Bus namespace (output SERVICEBUS_NAMESPACE_ID of `azd provision`). Empty: no Event Grid topic (deployments are started by requests only).')
param serviceBusNamespaceId string = ''

@description('Queue that receives the events; its function is `image-version-published`.')
param queueName string = 'image-version-published'

@description('Name of the Event Grid system topic for this subscription\'s resource events. A subscription has at most one; if it already has one, give its name and resource group: this deployment adds a system-assigned identity to it and leaves its other event subscriptions alone.')
param systemTopicName string = 'imageferry-resource-events'

@description('Resource group of the system topic. Empty: the gallery\'s resource group.')
param systemTopicResourceGroup string = ''

@description('Region of the Event Grid system topic for this subscription\'s resource events: Azure subscription sources are global.')
param systemTopicLocation string = 'global'

@allowed([
  'EventGridSchema'
  'CloudEventSchemaV1_0'
])
@description('Schema of the delivered events; the handler accepts both.')
param eventDeliverySchema string = 'CloudEventSchemaV1_0'

var galleryId = resourceId(subscription().subscriptionId, galleryResourceGroup, 'Microsoft.Compute/galleries', galleryName)
var topicResourceGroup = empty(systemTopicResourceGroup) ? galleryResourceGroup : systemTopicResourceGroup
var withEvents = !empty(serviceBusNamespaceId)

// Reader is built in; the custom role grants only what imageferry reads in tenant 1: the gallery,
// the image definition (OS type, generalized/specialized, security features) and the version (its
// replication status). The VM PUT in tenant 2 carries an auxiliary tenant-1 token, and ARM checks
// `Microsoft.Compute/galleries/images/versions/read` on the version with it (linked authorization).
// https://learn.microsoft.com/azure/role-based-access-control/permissions/compute
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var galleryReadActions = [
  'Microsoft.Compute/galleries/read'
  'Microsoft.Compute/galleries/images/read'
  'Microsoft.Compute/galleries/images/versions/read'
]

// https://learn.microsoft.com/azure/templates/microsoft.authorization/2022-04-01/roledefinitions
resource galleryReadRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomReadRole) {
  name: guid(subscription().id, 'imageferry-gallery-reader')
  properties: {
    // Role names are unique per tenant: one role per subscription.
    roleName: 'imageferry gallery reader (${subscription().subscriptionId})'
    description: 'Read an Azure Compute Gallery, its image definitions and versions (imageferry, tenant 1).'
    type: 'CustomRole'
    permissions: [
      {
        actions: galleryReadActions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

var roleDefinitionId = useCustomReadRole ? galleryReadRole.id : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)

module galleryReader 'modules/gallery-reader.bicep' = {
  name: 'imageferry-gallery-reader'
  scope: resourceGroup(galleryResourceGroup)
  params: {
    galleryName: galleryName
    principalId: appServicePrincipalObjectId
    roleDefinitionId: roleDefinitionId
  }
}

// The system topic first: its identity needs Data Sender on the queue before the event subscription
// is created, because Event Grid checks the destination when the subscription is created.
module topic 'modules/system-topic.bicep' = if (withEvents) {
  name: 'imageferry-system-topic'
  scope: resourceGroup(topicResourceGroup)
  params: {
    name: systemTopicName
    location: systemTopicLocation
  }
}

module queueSender 'modules/queue-sender.bicep' = if (withEvents) {
  name: 'imageferry-eventgrid-queue-sender'
  scope: resourceGroup(split(serviceBusNamespaceId, '/')[2], split(serviceBusNamespaceId, '/')[4])
  params: {
    namespaceName: last(split(serviceBusNamespaceId, '/'))
    queueName: queueName
    principalId: withEvents ? topic.outputs.principalId : ''
  }
}

module events 'modules/eventgrid.bicep' = if (withEvents) {
  name: 'imageferry-gallery-events'
  scope: resourceGroup(topicResourceGroup)
  params: {
    systemTopicName: systemTopicName
    galleryId: galleryId
    queueId: '${serviceBusNamespaceId}/queues/${queueName}'
    eventDeliverySchema: eventDeliverySchema
  }
  dependsOn: [
    topic
    queueSender
  ]
}

output GALLERY_ID string = galleryId
output GALLERY_READ_ROLE_DEFINITION_ID string = roleDefinitionId
output SYSTEM_TOPIC_NAME string = withEvents ? systemTopicName : ''
