// Read access to one gallery for the imageferry app registration's service principal (tenant 1).
// Scope: the gallery, not its resource group or subscription.

param galleryName string

@description('Object id of the app registration\'s service principal in this tenant.')
param principalId string

@description('Role definition id: the custom gallery read role or the built-in Reader.')
param roleDefinitionId string

resource gallery 'Microsoft.Compute/galleries@2024-03-03' existing = {
  name: galleryName
}

resource galleryRead 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  // Named from the principal id: a recreated principal gets a new assignment, not a collision.
  name: guid(gallery.id, principalId, roleDefinitionId)
  scope: gallery
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: roleDefinitionId
  }
}
