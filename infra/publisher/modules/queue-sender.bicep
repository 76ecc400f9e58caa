// Azure Service Bus Data Sender on one queue (not the namespace) for the Event Grid system topic's
// identity. Deployed into the namespace's resource group (same tenant, possibly another
// subscription than the gallery's).
// Built-in role id (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration):
//   Azure Service Bus Data Sender 69a216fc-b8fb-44d8-bc22-1f3c2cd27a39

param namespaceName string
param queueName string
param principalId string

var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource queue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' existing = {
  parent: namespace
  name: queueName
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, dataSender)
  scope: queue
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
  }
}
