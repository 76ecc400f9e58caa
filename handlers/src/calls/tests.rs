use super::*;
use std::collections::BTreeSet;

fn example() -> (DeploymentRequest, ImageId) {
    parse(include_str!(
        "../../../examples/deployment-request.linux.json"
    ))
}

fn scale_set_example() -> (DeploymentRequest, ImageId) {
    parse(include_str!(
        "../../../examples/deployment-request.scale-set.json"
    ))
}

fn parse(text: &str) -> (DeploymentRequest, ImageId) {
    let req: DeploymentRequest = serde_json::from_str(text).unwrap();
    let image = req.validate().unwrap();
    (req, image)
}

fn facts<'a>(req: &'a DeploymentRequest, image: &'a ImageId) -> Facts<'a> {
    Facts {
        request: req,
        image,
        create_resource_group: false,
        marketplace_plan: false,
    }
}

fn deployer_actions(facts: &Facts<'_>) -> BTreeSet<&'static str> {
    required_grants(facts, Role::Deployer)
        .iter()
        .map(|g| g.action)
        .collect()
}

/// The actions the table needs from `role`, over every kind of request.
fn needed(role: Role) -> BTreeSet<&'static str> {
    CALLS
        .iter()
        .flat_map(|c| c.grants.iter())
        .filter(|g| g.role == role)
        .map(|g| g.action)
        .collect()
}

#[test]
fn every_target_role_in_actions_json_holds_exactly_what_the_calls_need() {
    for role in Role::TARGET {
        let listed = role.granted_actions();
        assert!(!listed.is_empty(), "{role:?}: no list in actions.json");
        let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
        assert_eq!(unique.len(), listed.len(), "{role:?} lists an action twice");
        assert_eq!(
            unique,
            needed(role),
            "infra/target/actions.json {} (left) and the table's {role:?} actions (right) differ",
            role.actions_key().unwrap()
        );
    }
    // Nothing else in the file: one list per target role.
    let file: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(roles::ACTIONS_JSON).unwrap();
    let keys: BTreeSet<&str> = file
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with('$'))
        .collect();
    let roles: BTreeSet<&str> = Role::TARGET
        .iter()
        .filter_map(|r| r.actions_key())
        .collect();
    assert_eq!(keys, roles);
    // The built-in roles are not the template's.
    for role in [Role::GalleryReader, Role::KeyVaultSecretsUser] {
        assert!(role.granted_actions().is_empty() && !needed(role).is_empty());
    }
}

#[test]
fn main_bicep_takes_every_roles_actions_from_actions_json() {
    let bicep = include_str!("../../../infra/target/main.bicep");
    assert!(bicep.contains("var roleActions = loadJsonContent('actions.json')"));
    for role in Role::TARGET {
        let key = role.actions_key().unwrap();
        assert!(
            bicep.contains(&format!("var {key} = roleActions.{key}\n")),
            "main.bicep's {key} is not read from actions.json"
        );
        assert!(
            bicep.contains(&format!("actions: {key}\n")),
            "no role grants {key}"
        );
    }
}

#[test]
fn the_templates_are_the_paths_the_handler_derives() {
    for (req, _) in [example(), scale_set_example()] {
        let names = TargetNames::of(&req).unwrap();
        let t = &req.target;
        for call in CALLS {
            if !matches!(
                call.resource,
                Resource::Target(_) | Resource::ScaleSetPart(_)
            ) {
                continue;
            }
            let path = call.path(&names);
            let filled = call
                .resource
                .template()
                .replace("{subscriptionId}", &t.subscription_id)
                .replace("{resourceGroup}", &t.resource_group)
                .replace("{vm}", &req.machine().name)
                .replace("{scaleSet}", &req.machine().name);
            assert_eq!(filled, path, "{call:?}");
        }
    }
}

#[test]
fn the_examples_need_the_whole_deployer_role_and_nothing_else_of_tenant_2() {
    let (req, image) = example();
    let facts = facts(&req, &image);
    let (ss_req, ss_image) = scale_set_example();
    let ss_facts = self::facts(&ss_req, &ss_image);
    let deployer = deployer_actions(&facts);
    let scale_set = deployer_actions(&ss_facts);
    // A VM needs no scale-set action; a scale set no VM, NIC, public IP or disk action.
    assert!(
        !deployer
            .iter()
            .any(|a| a.contains("virtualMachineScaleSets"))
    );
    for vm_only in [
        "Microsoft.Compute/virtualMachines/write",
        "Microsoft.Network/networkInterfaces/write",
        "Microsoft.Network/publicIPAddresses/write",
        "Microsoft.Compute/disks/write",
    ] {
        assert!(!scale_set.contains(vm_only), "{vm_only}");
    }
    assert!(scale_set.contains("Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action"));
    // Together (the batches example; rolling adds rollingUpgrades/read) they need all of it.
    let mut rolling_req = ss_req.clone();
    rolling_req.scale_set.as_mut().unwrap().upgrade = imageferry_contract::UpgradeMode::Rolling;
    let rolling = deployer_actions(&self::facts(&rolling_req, &ss_image));
    assert!(!rolling.contains("Microsoft.Compute/virtualMachineScaleSets/manualUpgrade/action"));
    assert!(!scale_set.contains("Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades/read"));
    let all: BTreeSet<&str> = deployer
        .iter()
        .chain(&scale_set)
        .chain(&rolling)
        .copied()
        .collect();
    assert_eq!(all, needed(Role::Deployer));
    for role in [
        Role::ResourceGroupCreator,
        Role::SharedImageReader,
        Role::MarketplaceTermsReader,
    ] {
        assert!(required_grants(&facts, role).is_empty(), "{role:?}");
    }
    // The calls of one deployment, in pipeline order: the steps' own, once per step.
    let calls: Vec<String> = calls_for(&facts)
        .iter()
        .map(|(step, c)| format!("{step} {} {:?}", c.method.as_str(), c.resource))
        .collect();
    assert_eq!(
        calls.first().unwrap(),
        "deployment-requested GET ImageDefinition"
    );
    assert_eq!(
        calls.last().unwrap(),
        "vm-provisioning GET Target(VirtualMachine)"
    );
    let puts: Vec<&String> = calls.iter().filter(|c| c.contains(" PUT ")).collect();
    assert_eq!(
        puts,
        [
            "image-version-replicated PUT Target(VirtualNetwork)",
            "image-version-replicated PUT Target(NetworkSecurityGroup)",
            "image-version-replicated PUT Target(PublicIp)",
            "image-version-replicated PUT Target(NetworkInterface)",
            "image-version-replicated PUT Target(VirtualMachine)",
        ]
    );
    assert!(calls.contains(&"replication-check GET ImageVersion".to_owned()));
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("Secret") || c.contains("Marketplace"))
    );

    // A scale set: its network, then its PUT or PATCH, then the checks.
    let calls: Vec<String> = calls_for(&ss_facts)
        .iter()
        .map(|(step, c)| format!("{step} {} {:?}", c.method.as_str(), c.resource))
        .collect();
    let writes: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains(" PUT ") || c.contains(" PATCH ") || c.contains(" POST "))
        .collect();
    assert_eq!(
        writes,
        [
            "image-version-replicated PUT Target(VirtualNetwork)",
            "image-version-replicated PUT Target(NetworkSecurityGroup)",
            "image-version-replicated PUT Target(ScaleSet)",
            "image-version-replicated PATCH Target(ScaleSet)",
            "vm-provisioning POST ScaleSetPart(ManualUpgrade)",
        ]
    );
    assert!(calls.contains(&"vm-provisioning GET ScaleSetPart(Instances)".to_owned()));
}

#[test]
fn image_carrying_scale_set_writes_carry_the_auxiliary_token_and_the_others_do_not() {
    assert_eq!(SCALE_SET_PUT.token, Token::TargetWithImageAux);
    assert_eq!(SCALE_SET_PATCH.token, Token::TargetWithImageAux);
    assert_eq!(SCALE_SET_MANUAL_UPGRADE.token, Token::Target);
    assert_eq!(SCALE_SET_PUT.api_version(), "2025-04-01");
}

#[test]
fn api_versions() {
    assert_eq!(VM_PUT.api_version(), "2025-04-01");
    assert_eq!(GALLERY_VERSION_GET.api_version(), "2025-03-03");
    assert_eq!(NIC_PUT.api_version(), "2024-05-01");
    assert_eq!(RESOURCE_GROUP_PUT.api_version(), "2024-03-01");
    assert_eq!(SECRET_GET.api_version(), "7.4");
}
