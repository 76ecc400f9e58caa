// The event subscription: ResourceWriteSuccess events for image version writes in one gallery, to
// the `image-version-published` Service Bus queue, delivered with the system topic's managed
// identity (the namespace has local (SAS) auth disabled).
// https://learn.microsoft.com/azure/templates/microsoft.eventgrid/2025-02-15/systemtopics/eventsubscriptions
// https://learn.microsoft.com/azure/event-grid/handler-service-bus (session-enabled queues are not
// supported as handlers; the imageferry queues have no sessions)
// Event shape: reference/eventgrid/ (subject = the resource id written; data.operationName).

param systemTopicName string

@description('Resource id of the gallery; events for versions under it are delivered.')
param galleryId string

@description('Resource id of the destination queue.')
param queueId string

param eventDeliverySchema string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource galleryVersions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: 'imageferry-${uniqueString(galleryId)}'
  properties: {
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'ServiceBusQueue'
        properties: {
          resourceId: queueId
        }
      }
    }
    eventDeliverySchema: eventDeliverySchema
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
      ]
      // ARM writes subjects with `resourcegroups` in lower case; the comparison ignores case.
      subjectBeginsWith: '${galleryId}/images/'
      isSubjectCaseSensitive: false
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.Compute/galleries/images/versions/write'
          ]
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output name string = galleryVersions.name
