// imageferry, tenant 2 (a target): deploy into the target subscription, signed in to tenant 2, after
// an admin of tenant 2 has consented to the app (the consent creates its service principal here).
// A separate entry point from infra/main.bicep because a Bicep deployment runs in one tenant
// (docs/ONBOARDING.md has the commands):
//
//   az deployment sub create --location <region> --template-file infra/target/main.bicep \
//     --parameters targetResourceGroup=<rg> appServicePrincipalObjectId=<sp object id in tenant 2>
//
// Instead of Contributor, the app's service principal gets a custom role with exactly the actions
// the pipeline performs on the target resource group (docs/ONBOARDING.md explains each one).
// The lists are in actions.json; the handler's table of its Azure calls (handlers/src/calls) is
// the source, `imageferry doctor` checks the same actions, and the table's tests fail when
// actions.json differs from it:
//   - the network `az vm create` builds: VNet (its subnet is part of the VNet's PUT, no subnet
//     call is made), NSG, static public IP, NIC, each read and written, and joined
//     (`join/action`) when the NIC and the VM reference them;
//   - the VM (read, write) and its OS disk, which the VM PUT creates (disks read, write);
//   - the resource group itself (read);
//   - the status of long-running operations it polls (Compute and Network `locations/operations/read`).
// Optional, at subscription scope: creating missing resource groups (IMAGEFERRY_CREATE_RESOURCE_GROUP),
// reading direct-shared or community gallery images (images offered to this tenant without
// the auxiliary-token path), and reading Marketplace terms agreements (on by default), so that
// an image built from a Marketplace image whose plan's terms tenant 2 has not accepted is
// refused before the first write instead of at the VM PUT.
targetScope = 'subscription'

@description('Resource group that receives the VMs (created here when it does not exist).')
param targetResourceGroup string

@description('Region of the target resource group when this deployment creates it.')
param location string = deployment().location

@description('Object id of the imageferry app\'s service principal in this tenant (created by the admin consent; `az ad sp show --id <appId> --query id -o tsv`).')
param appServicePrincipalObjectId string

@description('Let the app read this subscription\'s Marketplace terms agreements (one read action at subscription scope), so a deployment of an image with a purchase plan whose terms are not accepted stops before any resource is created.')
param allowMarketplaceTermsCheck bool = true

@description('Also allow creating resource groups in this subscription (IMAGEFERRY_CREATE_RESOURCE_GROUP=true on the app): resourceGroups/write at subscription scope.')
param allowCreateResourceGroup bool = false

@description('Also allow reading direct-shared and community gallery images offered to this subscription (image ids /SharedGalleries/... or /CommunityGalleries/...).')
param allowSharedGalleryImages bool = false

@description('Create the target resource group in this deployment (it must exist before the first VM unless allowCreateResourceGroup is true).')
param createTargetResourceGroup bool = true

// The roles' actions live in actions.json, one list per role: the handler's table of the
// pipeline's Azure calls (handlers/src/calls: method, path, api-version, the actions each call
// needs and the role that grants them) is checked against it by its tests, and `imageferry
// doctor` and `imageferry plan` render the same table.
var roleActions = loadJsonContent('actions.json')

// The VNet (with its subnet), NSG, public IP, NIC and VM of one deployment, the OS disk the VM
// PUT creates, the resource group (read) and the long-running operations polled.
var deployerActions = roleActions.deployerActions

var resourceGroupCreatorActions = roleActions.resourceGroupCreatorActions

// `MarketplaceAgreements_Get` of the image's purchase plan (the handler's pre-check; the
// resource provider operations list names this action "Get an agreement for a given marketplace
// virtual machine item").
var marketplaceTermsReaderActions = roleActions.marketplaceTermsReaderActions

// The location-scoped GETs of a shared or community image definition and version (the gallery
// itself is never read).
var sharedImageReaderActions = roleActions.sharedImageReaderActions

// https://learn.microsoft.com/azure/templates/microsoft.authorization/2022-04-01/roledefinitions
resource deployerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'imageferry-vm-deployer')
  properties: {
    // Role names are unique per tenant: one role per subscription.
    roleName: 'imageferry VM deployer (${subscription().subscriptionId})'
    description: 'Create a VM from a gallery image with the network az vm create builds (imageferry, target tenant).'
    type: 'CustomRole'
    permissions: [
      {
        actions: deployerActions
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

resource resourceGroupCreatorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (allowCreateResourceGroup) {
  name: guid(subscription().id, 'imageferry-resource-group-creator')
  properties: {
    roleName: 'imageferry resource group creator (${subscription().subscriptionId})'
    description: 'Create the target resource group when it is missing (imageferry, IMAGEFERRY_CREATE_RESOURCE_GROUP).'
    type: 'CustomRole'
    permissions: [
      {
        actions: resourceGroupCreatorActions
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

resource sharedImageReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (allowSharedGalleryImages) {
  name: guid(subscription().id, 'imageferry-shared-image-reader')
  properties: {
    roleName: 'imageferry shared image reader (${subscription().subscriptionId})'
    description: 'Read direct-shared and community gallery images offered to this subscription (imageferry).'
    type: 'CustomRole'
    permissions: [
      {
        actions: sharedImageReaderActions
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

resource marketplaceTermsReaderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (allowMarketplaceTermsCheck) {
  name: guid(subscription().id, 'imageferry-marketplace-terms-reader')
  properties: {
    roleName: 'imageferry Marketplace terms reader (${subscription().subscriptionId})'
    description: 'Read whether the terms of a Marketplace plan are accepted in this subscription (imageferry pre-check).'
    type: 'CustomRole'
    permissions: [
      {
        actions: marketplaceTermsReaderActions
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

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = if (createTargetResourceGroup) {
  name: targetResourceGroup
  location: location
}

module deployerAssignment 'modules/rg-role.bicep' = {
  name: 'imageferry-vm-deployer'
  scope: resourceGroup(targetResourceGroup)
  params: {
    principalId: appServicePrincipalObjectId
    roleDefinitionId: deployerRole.id
  }
  dependsOn: [
    rg
  ]
}

// Role assignment names derive from the principal id: a re-consented app (new service principal)
// gets new assignments instead of colliding with the old ones.
resource resourceGroupCreatorAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (allowCreateResourceGroup) {
  name: guid(subscription().id, appServicePrincipalObjectId, 'imageferry-resource-group-creator')
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: resourceGroupCreatorRole.id
  }
}

resource sharedImageReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (allowSharedGalleryImages) {
  name: guid(subscription().id, appServicePrincipalObjectId, 'imageferry-shared-image-reader')
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: sharedImageReaderRole.id
  }
}

resource marketplaceTermsReaderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (allowMarketplaceTermsCheck) {
  name: guid(subscription().id, appServicePrincipalObjectId, 'imageferry-marketplace-terms-reader')
  properties: {
    principalId: appServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    roleDefinitionId: marketplaceTermsReaderRole.id
  }
}

output DEPLOYER_ROLE_DEFINITION_ID string = deployerRole.id
output DEPLOYER_ACTIONS array = deployerActions
output TARGET_SCOPE string = '${subscription().id}/resourceGroups/${targetResourceGroup}'
