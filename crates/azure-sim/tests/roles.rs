//! Custom roles: `Microsoft.Authorization/permissions` answers with the role's own `Permission`
//! (the shape of reference/arm/examples/authorization/), and the linked `join/action` checks of
//! the network and VM PUTs follow the role's actions.

mod common;

use azure_sim::Scenario;
use azure_sim::scenario::{CustomRole, Role, RoleAssignment};
use common::*;
use serde_json::{Value, json};

/// The actions of a role that can build the network and the VM in myResourceGroup.
const DEPLOYER: [&str; 17] = [
    "Microsoft.Resources/subscriptions/resourceGroups/read",
    "Microsoft.Network/virtualNetworks/read",
    "Microsoft.Network/virtualNetworks/write",
    "Microsoft.Network/virtualNetworks/subnets/join/action",
    "Microsoft.Network/networkSecurityGroups/read",
    "Microsoft.Network/networkSecurityGroups/write",
    "Microsoft.Network/networkSecurityGroups/join/action",
    "Microsoft.Network/publicIPAddresses/read",
    "Microsoft.Network/publicIPAddresses/write",
    "Microsoft.Network/publicIPAddresses/join/action",
    "Microsoft.Network/networkInterfaces/read",
    "Microsoft.Network/networkInterfaces/write",
    "Microsoft.Network/networkInterfaces/join/action",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachines/write",
    "Microsoft.Compute/locations/operations/read",
    "Microsoft.Network/locations/operations/read",
];

/// The default scenario with the app's Contributor on myResourceGroup replaced by a custom role
/// with `actions`.
fn with_deployer(actions: &[&str]) -> Scenario {
    let mut s = Scenario::seed();
    s.role_assignments.retain(|ra| ra.role != Role::Contributor);
    s.custom_roles.push(CustomRole {
        name: "deployer".into(),
        actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        not_actions: Vec::new(),
    });
    s.role_assignments.push(RoleAssignment {
        principal: APP.into(),
        role: Role::Custom("deployer".into()),
        scope: RG2.into(),
    });
    s
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// As the app: the network `az vm create` builds for `vm1`, then the VM from the replicated
/// gallery version (with the tenant-1 auxiliary token); the VM PUT's answer.
async fn put_vm_with_own_network(env: &Env) -> Resp {
    let (t2, t1) = env.cross_tenant_tokens().await;
    let nic = env.network(&t2, "vm1", "southcentralus").await;
    env.replicate_all("myImageDefinition");
    let body = vm_body(
        json!({"id": version_id("myImageDefinition")}),
        &nic,
        "southcentralus",
        true,
    );
    env.put_vm("vm1", &t2, &[&t1], body).await
}

#[tokio::test]
async fn permissions_list_the_custom_role_in_azures_shape() {
    let env = Env::with(with_deployer(&DEPLOYER)).await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let r = env
        .get(
            &format!("{RG2}/providers/Microsoft.Authorization/permissions?api-version=2022-04-01"),
            &t2,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Same envelope and Permission fields as the spec's example; 2022-04-01 adds the data actions.
    let reference = example("authorization/GetPermissions.json");
    let body = &reference["responses"]["200"]["body"];
    assert_eq!(keys(&r.body), keys(body));
    let mut expected = keys(&body["value"][0]);
    expected.extend(["dataActions".to_owned(), "notDataActions".to_owned()]);
    expected.sort();
    let value = r.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{:?}", r.body);
    assert_eq!(keys(&value[0]), expected);
    // The role definition's own Permission fields (GetRoleDefinitionByName.json).
    let definition = example("authorization/GetRoleDefinitionByName.json");
    assert_eq!(
        keys(&value[0]),
        keys(&definition["responses"]["200"]["body"]["properties"]["permissions"][0])
    );
    assert_eq!(value[0]["actions"], json!(DEPLOYER));
    assert_eq!(value[0]["notActions"], json!([]));

    // The role is enough for the network and the VM.
    let r = put_vm_with_own_network(&env).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn a_role_without_a_join_action_fails_the_linked_check() {
    // No networkInterfaces/join/action: the NIC is built, the VM that uses it is refused.
    let without_nic_join: Vec<&str> = DEPLOYER
        .into_iter()
        .filter(|a| *a != "Microsoft.Network/networkInterfaces/join/action")
        .collect();
    let env = Env::with(with_deployer(&without_nic_join)).await;
    let r = put_vm_with_own_network(&env).await;
    r.assert_error(403, "LinkedAuthorizationFailed");
    assert!(
        r.message().contains(
            "does not have permission to perform action 'Microsoft.Network/networkInterfaces/join/action' on the linked scope(s)"
        ),
        "{}",
        r.message()
    );

    // No networkSecurityGroups/join/action: the NIC that names the NSG is refused.
    let without_nsg_join: Vec<&str> = DEPLOYER
        .into_iter()
        .filter(|a| *a != "Microsoft.Network/networkSecurityGroups/join/action")
        .collect();
    let env = Env::with(with_deployer(&without_nsg_join)).await;
    let t2 = env.token(T2, ARM_SCOPE).await;
    let n = format!("{RG2}/providers/Microsoft.Network");
    let q = format!("?api-version={NETWORK_API}");
    let nsg = format!("{n}/networkSecurityGroups/n1");
    let r = env
        .put(
            &format!("{nsg}{q}"),
            &t2,
            json!({"location": "southcentralus", "properties": {"securityRules": []}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let vnet = format!("{n}/virtualNetworks/v1");
    let r = env
        .put(&format!("{vnet}{q}"), &t2, json!({"location": "southcentralus", "properties": {"addressSpace": {"addressPrefixes": ["192.168.0.0/16"]}, "subnets": [{"name": "s", "properties": {"addressPrefix": "192.168.1.0/24"}}]}}))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = env
        .put(
            &format!("{n}/networkInterfaces/nic1{q}"),
            &t2,
            json!({"location": "southcentralus", "properties": {"networkSecurityGroup": {"id": nsg}, "ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": format!("{vnet}/subnets/s")}}}]}}),
        )
        .await;
    r.assert_error(403, "LinkedAccessCheckFailed");
    assert!(
        r.message().contains(&format!(
            "perform action 'Microsoft.Network/networkSecurityGroups/join/action' over scope '{nsg}'"
        )),
        "{}",
        r.message()
    );
}
