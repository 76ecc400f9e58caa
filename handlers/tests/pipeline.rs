//! The four steps against the Azure stand-in and a capture of Service Bus sends.

mod support;

use imageferry_contract::{Status, Step};
use serde_json::json;
use support::*;

#[tokio::test]
async fn linux_happy_path() {
    let mut bench = Bench::seeded().await;
    bench.submit(&linux_request("web-canary-42")).await;
    bench.run().await;

    let done = bench.terminal();
    assert_eq!(done.status, Status::Succeeded, "{done:#?}");
    assert_eq!(done.vm_id.as_deref(), Some(vm_id("myVM").as_str()));
    // The addresses are the ones ARM reports on the NIC and the public IP.
    let network = |kind: &str, name: &str| {
        format!("/subscriptions/{SUB2}/resourceGroups/myResourceGroup/providers/Microsoft.Network/{kind}/{name}")
    };
    let nic = bench.resource(&network("networkInterfaces", "myVM-nic"));
    let ip = &nic["properties"]["ipConfigurations"][0]["properties"];
    assert!(done.private_ip_address.is_some(), "{done:#?}");
    assert_eq!(done.private_ip_address.as_deref(), ip["privateIPAddress"].as_str());
    assert_eq!(ip["publicIPAddress"]["id"], network("publicIPAddresses", "myVM-pip"));
    let pip = bench.resource(&network("publicIPAddresses", "myVM-pip"));
    assert_eq!(pip["sku"]["name"], "Standard");
    assert_eq!(pip["properties"]["publicIPAllocationMethod"], "Static");
    assert_eq!(done.public_ip_address.as_deref(), pip["properties"]["ipAddress"].as_str());
    let vnet = bench.resource(&network("virtualNetworks", "myVM-vnet"));
    assert_eq!(vnet["properties"]["addressSpace"]["addressPrefixes"], json!(["192.168.0.0/16"]));
    let statuses = bench.statuses();
    assert_eq!(statuses.first(), Some(&Status::Accepted));
    for expected in [Status::WaitingForReplication, Status::Replicated, Status::Provisioning] {
        assert!(statuses.contains(&expected), "{statuses:?}");
    }

    // One VM create, carrying a tenant-1 auxiliary token; network PUTs carry none.
    let vm_puts = bench.arm_requests("PUT", "/virtualMachines/myVM");
    assert_eq!(vm_puts.len(), 1, "{vm_puts:#?}");
    assert!(vm_puts[0].aux_header);
    assert_eq!(vm_puts[0].aux_tenants, [TENANT1]);
    assert_eq!(vm_puts[0].token_tenant.as_deref(), Some(TENANT2));
    assert!(bench.arm_requests("PUT", "/networkInterfaces/myVM-nic").iter().all(|r| !r.aux_header));

    let vm = bench.resource(&vm_id("myVM"));
    assert_eq!(vm["tags"]["imageferry-deployment"], "web-canary-42");
    assert_eq!(vm["tags"]["team"], "web");
    let nsg = bench.resource(&network("networkSecurityGroups", "myVM-nsg"));
    let rule = &nsg["properties"]["securityRules"][0]["properties"];
    assert_eq!(rule["destinationPortRange"], "22");
    assert_eq!(rule["sourceAddressPrefix"], "203.0.113.0/24");

    // Events carry deploymentId/status application properties and deterministic MessageIds.
    let terminal = bench
        .capture
        .accepted(EVENTS)
        .into_iter()
        .find(|m| m.broker.message_id.as_deref() == Some("web-canary-42:succeeded"))
        .expect("terminal event MessageId");
    // Names compare case-insensitively: the REST single send carries them as HTTP headers.
    let property = |name: &str| {
        terminal
            .application_properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(property("deploymentId"), Some(json!("web-canary-42")));
    assert_eq!(property("status"), Some(json!("succeeded")));
    assert_eq!(terminal.broker.correlation_id.as_deref(), Some("web-canary-42"));
    assert!(bench.deliveries.iter().all(|d| d.status == 200), "{:#?}", bench.deliveries);
}
