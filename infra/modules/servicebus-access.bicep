// Service Bus data-plane roles on the namespace.
// Built-in role ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration):
//   Azure Service Bus Data Owner    090c5cfd-751d-490a-894a-3ce6f1109419
//   Azure Service Bus Data Sender   69a216fc-b8fb-44d8-bc22-1f3c2cd27a39
// The Functions Service Bus trigger lists Data Receiver or Data Owner for identity-based connections
// (https://learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger, section
// "Identity-based connections"). Receiver is enough to receive, but the scale controller of a
// Flex Consumption app reads the queues' runtime properties (message counts) with the same
// identity, and that is a management read that Data Receiver does not include: with Receiver only,
// the host logs "unauthorized" warnings and target-based scaling degrades. Data Owner is the one
// built-in role that includes it, so the Function App's system-assigned identity gets Data Owner
// (which also covers sending).
//
// Who sends: the handler sends its step messages and events with a token of the app registration
// (AZURE_CLIENT_ID) in the home tenant (crates/azure-clients, ServiceBusSender::from_env), so the
// app registration's service principal needs Data Sender.

param namespaceName string

@description('Principal id of the Function App\'s system-assigned identity.')
param functionAppPrincipalId string

@description('Object id of the app registration\'s service principal in the home tenant; empty: no assignment.')
param appServicePrincipalObjectId string = ''

var dataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'
var dataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: namespaceName
}

resource functionAppOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(namespace.id, functionAppPrincipalId, dataOwner)
  scope: namespace
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataOwner)
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
