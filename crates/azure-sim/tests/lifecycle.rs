//! Deletes (in-use rules, `deleteOption`, LRO), the tag-filtered resource list, instance views,
//! api-version refusals and template deployments, over plain HTTP (the real-client test runs
//! the same with the Azure SDK for Python over TLS).

mod common;

use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::json;

async fn vm_with_network(env: &Env, name: &str, delete_option: Option<&str>) -> (String, String) {
    let (t2, t1) = env.cross_tenant_tokens().await;
    env.replicate_all("myImageDefinition");
    let nic = env.network(&t2, name, "southcentralus").await;
    let mut body = vm_body(
        json!({"id": version_id("myImageDefinition")}),
        &nic,
        "southcentralus",
        true,
    );
    body["tags"] = json!({"imageferry-deployment": name});
    if let Some(o) = delete_option {
        body["properties"]["storageProfile"]["osDisk"]["deleteOption"] = json!(o);
        body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
            json!(o);
    }
    let r = env.put_vm(name, &t2, &[&t1], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    env.sim.advance(Duration::from_secs(60));
    (t2, nic)
}

#[tokio::test]
async fn deletes_follow_azures_in_use_rules_and_delete_options() {
    let env = Env::new().await;
    let (t2, nic) = vm_with_network(&env, "lc1", Some("Delete")).await;
    let q = format!("?api-version={NETWORK_API}");
    env.arm(Method::DELETE, &format!("{nic}{q}"), Some(&t2), &[], None)
        .await
        .assert_error(400, "NicInUse");
    let n = format!("{RG2}/providers/Microsoft.Network");
    env.arm(
        Method::DELETE,
        &format!("{n}/publicIPAddresses/lc1PublicIP{q}"),
        Some(&t2),
        &[],
        None,
    )
    .await
    .assert_error(400, "PublicIPAddressInUse");
    env.arm(
        Method::DELETE,
        &format!("{n}/networkSecurityGroups/lc1NSG{q}"),
        Some(&t2),
        &[],
        None,
    )
    .await
    .assert_error(400, "InUseNetworkSecurityGroupCannotBeDeleted");
    env.arm(
        Method::DELETE,
        &format!("{n}/virtualNetworks/lc1VNET{q}"),
        Some(&t2),
        &[],
        None,
    )
    .await
    .assert_error(400, "InUseSubnetCannotBeDeleted");
    let vm = format!("{RG2}/providers/Microsoft.Compute/virtualMachines/lc1");
    let disk_id = env
        .get(&format!("{vm}?api-version={COMPUTE_API}"), &t2)
        .await
        .body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.arm(
        Method::DELETE,
        &format!("{disk_id}?api-version=2026-03-02"),
        Some(&t2),
        &[],
        None,
    )
    .await
    .assert_error(409, "OperationNotAllowed");
    let del = env
        .arm(
            Method::DELETE,
            &format!("{vm}?api-version={COMPUTE_API}&forceDeletion=false"),
            Some(&t2),
            &[],
            None,
        )
        .await;
    assert_eq!(del.status, 202, "{:?}", del.body);
    assert!(del.header("location").is_some() && del.header("azure-asyncoperation").is_some());
    let during = env
        .get(&format!("{vm}?api-version={COMPUTE_API}"), &t2)
        .await;
    assert_eq!(during.body["properties"]["provisioningState"], "Deleting");
    env.sim.advance(Duration::from_secs(30));
    env.get(&format!("{vm}?api-version={COMPUTE_API}"), &t2)
        .await
        .assert_error(404, "ResourceNotFound");
    env.get(&format!("{nic}{q}"), &t2)
        .await
        .assert_error(404, "ResourceNotFound");
    assert!(
        env.sim.resource(&disk_id).is_none(),
        "the OS disk (deleteOption Delete) went with the VM"
    );
    let pip = env
        .arm(
            Method::DELETE,
            &format!("{n}/publicIPAddresses/lc1PublicIP{q}"),
            Some(&t2),
            &[],
            None,
        )
        .await;
    assert_eq!(pip.status, 202, "{:?}", pip.body);
    let again = env
        .arm(
            Method::DELETE,
            &format!("{n}/networkInterfaces/nope{q}"),
            Some(&t2),
            &[],
            None,
        )
        .await;
    assert_eq!(again.status, 204);
}

#[tokio::test]
async fn a_detached_disk_stays_and_a_reader_cannot_delete() {
    let env = Env::new().await;
    let (t2, _) = vm_with_network(&env, "lc2", None).await;
    let vm = format!("{RG2}/providers/Microsoft.Compute/virtualMachines/lc2");
    let disk_id = env
        .get(&format!("{vm}?api-version={COMPUTE_API}"), &t2)
        .await
        .body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .arm(
            Method::DELETE,
            &format!("{vm}?api-version={COMPUTE_API}"),
            Some(&t2),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 202);
    env.sim.advance(Duration::from_secs(30));
    let disk = env
        .get(&format!("{disk_id}?api-version=2026-03-02"), &t2)
        .await;
    assert_eq!(disk.status, 200);
    assert_eq!(disk.body["properties"]["diskState"], "Unattached");
    assert!(disk.body.get("managedBy").is_none());
    let t1 = env.token(T1, ARM_SCOPE).await;
    env.arm(
        Method::DELETE,
        &format!(
            "{}?api-version={GALLERY_API}",
            version_id("myImageDefinition")
        ),
        Some(&t1),
        &[],
        None,
    )
    .await
    .assert_error(403, "AuthorizationFailed");
}

#[tokio::test]
async fn the_tag_filter_lists_what_a_deployment_tagged() {
    let env = Env::new().await;
    let (t2, _) = vm_with_network(&env, "lc3", None).await;
    let r = env
        .get(&format!("{RG2}/resources?api-version={RESOURCES_API}&$filter=tagName%20eq%20'imageferry-deployment'%20and%20tagValue%20eq%20'lc3'"), &t2)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let types: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Microsoft.Compute/virtualMachines"]);
    env.get(
        &format!("{RG2}/resources?api-version={RESOURCES_API}&$filter=location%20eq%20'x'"),
        &t2,
    )
    .await
    .assert_error(400, "InvalidFilterInQueryString");
    let iv = env
        .get(&format!("{RG2}/providers/Microsoft.Compute/virtualMachines/lc3/instanceView?api-version={COMPUTE_API}"), &t2)
        .await;
    assert_eq!(
        iv.body["statuses"][1]["code"], "PowerState/running",
        "{:?}",
        iv.body
    );
    env.get(&format!("{RG2}?api-version=1999-01-01"), &t2)
        .await
        .assert_error(400, "InvalidApiVersionParameter");
    env.get(
        &format!("{RG2}/providers/Microsoft.Compute/virtualMachines/lc3?api-version=1999-01-01"),
        &t2,
    )
    .await
    .assert_error(400, "NoRegisteredProviderFound");
}

#[tokio::test]
async fn a_deployment_applies_the_auxiliary_rule_to_its_vm() {
    let env = Env::new().await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    env.replicate_all("myImageDefinition");
    let nic = env.network(&t2, "dep", "southcentralus").await;
    let vm = vm_body(
        json!({"id": version_id("myImageDefinition")}),
        &nic,
        "southcentralus",
        true,
    );
    let template = json!({
        "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"name": {"type": "string"}},
        "resources": [{"type": "Microsoft.Compute/virtualMachines", "apiVersion": "2026-04-01", "name": "[parameters('name')]",
                        "location": "southcentralus", "properties": vm["properties"]}],
        "outputs": {"id": {"type": "string", "value": "[resourceId('Microsoft.Compute/virtualMachines', parameters('name'))]"}}
    });
    let path = |n: &str| {
        format!("{RG2}/providers/Microsoft.Resources/deployments/{n}?api-version={RESOURCES_API}")
    };
    let body = |vm: &str| json!({"properties": {"mode": "Incremental", "template": template, "parameters": {"name": {"value": vm}}}});
    let without = env
        .arm(
            Method::PUT,
            &path("d1"),
            Some(&t2),
            &[],
            Some(body("depvm1")),
        )
        .await;
    assert_eq!(without.status, 201, "{:?}", without.body);
    env.sim.advance(Duration::from_secs(10));
    let d1 = env.get(&path("d1"), &t2).await;
    assert_eq!(d1.body["properties"]["provisioningState"], "Failed");
    assert_eq!(
        d1.body["properties"]["error"]["details"][0]["code"],
        "LinkedAuthorizationFailed"
    );
    let with = env
        .arm(
            Method::PUT,
            &path("d2"),
            Some(&t2),
            &[&t1],
            Some(body("depvm2")),
        )
        .await;
    assert_eq!(with.status, 201, "{:?}", with.body);
    env.sim.advance(Duration::from_secs(60));
    let d2 = env.get(&path("d2"), &t2).await;
    assert_eq!(
        d2.body["properties"]["provisioningState"], "Succeeded",
        "{:?}",
        d2.body
    );
    assert!(
        d2.body["properties"]["outputs"]["id"]["value"]
            .as_str()
            .unwrap()
            .ends_with("/virtualMachines/depvm2")
    );
    let mut bad = body("x");
    bad["properties"]["template"]["resources"][0]["copy"] = json!({"name": "c", "count": 2});
    env.arm(Method::PUT, &path("d3"), Some(&t2), &[&t1], Some(bad))
        .await
        .assert_error(400, "InvalidTemplate");
}
