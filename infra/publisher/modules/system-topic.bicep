// The Event Grid system topic for the subscription's own resource events (Azure Resource Manager
// events: ResourceWriteSuccess, ...), with a system-assigned identity for authenticated delivery to
// Service Bus. A subscription has at most one such topic; PUT on an existing one with the same
// name updates it (adds the identity), so this also serves an existing topic.
// https://learn.microsoft.com/azure/templates/microsoft.eventgrid/2025-02-15/systemtopics
// https://learn.microsoft.com/azure/event-grid/event-schema-subscriptions (topic type
// Microsoft.Resources.Subscriptions, location global)

param name string
param location string = 'global'

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: subscription().id
    topicType: 'Microsoft.Resources.Subscriptions'
  }
}

output name string = topic.name
output principalId string = topic.identity.principalId
