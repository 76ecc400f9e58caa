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

resource topics 'Microsoft.ServiceBus/namespaces/topics@2024-01-01' = [for topic in entities.topics: {
  parent: namespace
  name: topic.name
  properties: union(topic.properties, {
    duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
  })
}]

// Every subscription with the index of its topic, and every rule with the index of its
// subscription: the resource loops below are flat.
var subscriptionList = flatten(map(range(0, length(entities.topics)), t => map(entities.topics[t].subscriptions, s => {
  topic: t
  subscription: s
})))
var ruleList = flatten(map(range(0, length(subscriptionList)), i => map(subscriptionList[i].subscription.rules, r => {
  subscription: i
  rule: r
})))

resource subscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2024-01-01' = [for s in subscriptionList: {
  parent: topics[s.topic]
  name: s.subscription.name
  properties: s.subscription.properties
}]

resource rules 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2024-01-01' = [for r in ruleList: {
  parent: subscriptions[r.subscription]
  name: r.rule.name
  properties: r.rule.properties
}]

output name string = namespace.name
output id string = namespace.id
// e.g. sb-xxxx.servicebus.windows.net (sovereign clouds have other suffixes).
output fullyQualifiedNamespace string = replace(split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0], '/', '')
// The namespace has one topic, whose first subscription is terminal-events and second
// rollout-events (tested in crates/servicebus-emulator, config.rs).
output eventsTopicName string = topics[0].name
output terminalSubscriptionName string = subscriptions[0].name
output rolloutSubscriptionName string = subscriptions[1].name
output queueNames array = map(entities.queues, q => q.name)
