//! The invocation request used for throughput: a realistic deployment request, encoded exactly as
//! the Functions host sends it (`functions_runtime::host_wire`).

use functions_runtime::host_wire::{HostInvocation, HostMessage, request_body};
use serde_json::json;

/// Path, headers and body of one no-op Service Bus invocation of `function`.
pub fn invocation_request(function: &str) -> (String, Vec<(&'static str, String)>, String) {
    let body = json!({
        "deploymentId": "bench-0001",
        "image": {
            "tenantId": "11111111-1111-4111-8111-111111111111",
            "galleryImageVersionId": "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0"
        },
        "target": {
            "tenantId": "22222222-2222-4222-8222-222222222222",
            "subscriptionId": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "resourceGroup": "myResourceGroup",
            "location": "southcentralus"
        },
        "vm": { "name": "bench-vm", "size": "Standard_D2s_v5", "adminUsername": "azureuser", "osType": "Linux" }
    });
    let mut message = HostMessage::new(body.to_string());
    message.content_type = Some("application/json".into());
    message.subject = Some("deployment.requested".into());
    message.correlation_id = Some("bench".into());
    message
        .application_properties
        .insert("source".into(), json!("bench"));
    let invocation = HostInvocation::new(function, "message");
    (
        invocation.path(),
        invocation.headers(),
        request_body(&message, &invocation),
    )
}
