// Service Bus data-plane roles on the namespace.
// Built-in role ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration):
//   Azure Service Bus Data Receiver 4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0
//   Azure Service Bus Data Sender   69a216fc-b8fb-44d8-bc22-1f3c2cd27a39
// The Functions Service Bus trigger needs Data Receiver (Data Owner is the other listed option):
//   https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger (section "Identity-based connections")
//
// Who sends: the handler sends its step messages and events with a token of the app registration
// (AZURE_CLIENT_ID) in the home tenant (crates/azure-clients, ServiceBusSender::from_env), so the
// app registration's service principal needs Data Sender. The Function App's system-assigned
// identity gets Data Sender too (output bindings, or a handler that sends as the app itself).

param namespaceName string

@description('Principal id of the Function App\'s system-assigned identity.')
param functionAppPrincipalId string

@description('Object id of the app registration\'s service principal in the home tenant; empty: no assignment.')
param appServicePrincipalObjectId string = ''

var dataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource functionAppReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, functionAppPrincipalId, dataReceiver)
  scope: namespace
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReceiver)
  }
}

resource functionAppSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, functionAppPrincipalId, dataSender)
  scope: namespace
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
  }
}

resource appRegistrationSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(appServicePrincipalObjectId)) {
  name: guid(namespace.id, appServicePrincipalObjectId, dataSender)
  scope: namespace
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSender)
  }
}
