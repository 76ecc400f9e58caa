// Service Bus namespace and its entities: the step queues, the deployment-events topic, its
// subscriptions and their SQL rules, all described once in infra/servicebus.entities.json (ARM
// properties as they are; the local Service Bus stand-in runs the same file, see
// crates/servicebus-emulator/src/config.rs).
// Resource reference (API 2024-01-01):
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces/queues
//   https://learn.microsoft.com/azure/templates/microsoft.servicebus/2024-01-01/namespaces/topics/subscriptions/rules
// Standard tier: Basic has no topics (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging).

@description('Namespace name (globally unique).')
param name string
param location string
param tags object

@description('MaxDeliveryCount of every queue; the app reads the same value from IMAGEFERRY_MAX_DELIVERY_COUNT.')
param maxDeliveryCount int

@description('Duplicate detection window of the queues and the topics.')
param duplicateDetectionWindow string

var entities = loadJsonContent('../servicebus.entities.json')

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

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queue in entities.queues: {
  parent: namespace
  name: queue.name
  properties: union(queue.properties, {
    maxDeliveryCount: maxDeliveryCount
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
  })
}]

// The namespace has one topic, each of whose subscriptions has one rule (tested in
// crates/servicebus-emulator, config.rs); written without lambdas, which checkov cannot parse.
var topic = entities.topics[0]

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = {
  parent: namespace
  name: topic.name
  properties: union(topic.properties, {
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
  })
}

resource subscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for subscription in topic.subscriptions: {
  parent: eventsTopic
  name: subscription.name
  properties: subscription.properties
}]

resource rules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [for (subscription, i) in topic.subscriptions: {
  parent: subscriptions[i]
  name: subscription.rules[0].name
  properties: subscription.rules[0].properties
}]

output name string = namespace.name
output id string = namespace.id
// e.g. sb-xxxx.servicebus.windows.net (sovereign clouds have other suffixes).
output fullyQualifiedNamespace string = replace(split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0], '/', '')
// The first subscription is terminal-events, the second rollout-events (tested, as above).
output eventsTopicName string = eventsTopic.name
output terminalSubscriptionName string = subscriptions[0].name
output rolloutSubscriptionName string = subscriptions[1].name
output queueNames array = [for queue in entities.queues: queue.name]
