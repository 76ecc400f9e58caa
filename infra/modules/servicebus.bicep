// Service Bus namespace, the six step queues and the deployment-events topic.
// Resource reference (API 2024-01-01):
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces/queues
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces/topics/subscriptions/rules
// Standard tier: Basic has no topics (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging).

@description('Namespace name (globally unique).')
param name string
param location string
param tags object

@description('MaxDeliveryCount of the step queues; the app reads the same value from IMAGEFERRY_MAX_DELIVERY_COUNT.')
param maxDeliveryCount int

@description('Duplicate detection window of the queues and the topic.')
param duplicateDetectionWindow string

@description('Messages not consumed within this time are dead-lettered (deadLetteringOnMessageExpiration).')
param messageTimeToLive string = 'P14D'

// Function name = queue name (see the function.json files at the app root).
// `image-version-published` receives the gallery's Event Grid events (infra/publisher); `rollout-check`
// is the scheduled step that starts the next ring of a rollout.
var stepQueues = [
  'deployment-requested'
  'replication-check'
  'image-version-replicated'
  'vm-provisioning'
  'image-version-published'
  'rollout-check'
]
var eventsTopicName = 'deployment-events'
var terminalSubscriptionName = 'terminal-events'
var rolloutSubscriptionName = 'rollout-events'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Entra ID only: no SAS keys (the app uses ServiceBusConnection__fullyQualifiedNamespace).
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queue in stepQueues: {
  parent: namespace
  name: queue
  properties: {
    // Steps send deterministic MessageIds (deployment, step, attempt); duplicates are dropped here.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    maxDeliveryCount: maxDeliveryCount
    // The longest lock Service Bus allows; host.json renews it up to 10 minutes.
    lockDuration: 'PT5M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    enablePartitioning: false
    requiresSession: false
    maxSizeInMegabytes: 1024
  }
}]

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: eventsTopicName
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    enablePartitioning: false
    supportOrdering: true
    maxSizeInMegabytes: 1024
  }
}

// An example subscription: only the terminal event of each deployment. Events carry `deploymentId`
// and `status` as application properties, so SQL filters can use them.
resource terminalSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: terminalSubscriptionName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
  }
}

// Named `$Default` so it replaces the match-all rule (TrueFilter) that Service Bus gives every new
// subscription; a rule with another name would be OR-ed with it and let every event through.
resource terminalRule 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = {
  parent: terminalSubscription
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: 'status IN (\'succeeded\', \'failed\', \'rejected\')'
    }
  }
}

// Rollout events (image-version-published, rollout-check): application property `status` is one
// of the rollout statuses (schemas/rollout-event.schema.json), `rollout` the rollout's name.
resource rolloutSubscription 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = {
  parent: eventsTopic
  name: rolloutSubscriptionName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
    defaultMessageTimeToLive: messageTimeToLive
    enableBatchedOperations: true
    requiresSession: false
  }
}

resource rolloutRule 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = {
  parent: rolloutSubscription
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: 'status IN (\'ring-started\', \'rollout-completed\', \'rollout-halted\', \'rollout-blocked\', \'rollout-superseded\', \'event-rejected\')'
    }
  }
}

output name string = namespace.name
output id string = namespace.id
// e.g. sb-xxxx.servicebus.windows.net (sovereign clouds have other suffixes).
output fullyQualifiedNamespace string = replace(split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0], '/', '')
output eventsTopicName string = eventsTopic.name
output terminalSubscriptionName string = terminalSubscription.name
output rolloutSubscriptionName string = rolloutSubscription.name
output queueNames array = stepQueues
