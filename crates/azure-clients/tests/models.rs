//! Every example under reference/arm parses into the models; bodies built from the models match
//! the examples' request shapes.

use azure_clients::OperationStatusBody;
use azure_clients::models::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../reference/arm/examples");
const SCHEMAS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../reference/arm/schemas");

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn example(rel: &str) -> Value {
    load(&Path::new(EXAMPLES).join(rel))
}

/// The request body parameter of an example (the one object-valued parameter), if any.
fn request_body(ex: &Value) -> Option<Value> {
    ex["parameters"]
        .as_object()
        .unwrap()
        .values()
        .find(|v| v.is_object())
        .cloned()
}

fn response_bodies(ex: &Value) -> Vec<(String, Value)> {
    ex["responses"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(status, r)| r.get("body").map(|b| (status.clone(), b.clone())))
        .collect()
}

/// Every leaf of `ours` is present in `theirs` with the same value (arrays element-wise).
fn assert_subset(ours: &Value, theirs: &Value, path: &str) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                let other = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{p} is not in the example"));
                assert_subset(v, other, &p);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert!(
                a.len() <= b.len(),
                "{path}: {} items vs {}",
                a.len(),
                b.len()
            );
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_subset(x, y, &format!("{path}[{i}]"));
            }
        }
        // JSON numbers compare by value (40 == 40.0).
        (Value::Number(a), Value::Number(b)) => assert_eq!(a.as_f64(), b.as_f64(), "{path}"),
        (a, b) => assert_eq!(a, b, "{path}"),
    }
}

/// Same keys and JSON types as the example for every field we set; `extra` lists paths we set
/// that the example does not show (each justified by the schema).
fn assert_shape(ours: &Value, theirs: &Value, path: &str, extra: &[&str]) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(other) => assert_shape(v, other, &p, extra),
                    None => assert!(extra.contains(&p.as_str()), "{p} is not in the example"),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                assert_shape(x, y, &format!("{path}[]"), extra);
            }
        }
        (a, b) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{path}: {a} vs {b}"
        ),
    }
}

/// Parses `body` into `T` and checks that what `T` writes back is the example's own data.
fn roundtrip<T: DeserializeOwned + Serialize>(body: &Value, what: &str) -> T {
    let model: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_subset(&serde_json::to_value(&model).unwrap(), body, what);
    model
}

/// Examples in `reference/arm/examples` that no model of this crate reads (yet), with why. Every
/// other example must round-trip through its model, and every name here must exist.
const NOT_MODELLED: &[(&str, &str)] = &[
    (
        "VirtualMachine_Create_WithNetworkInterfaceConfiguration.json",
        "networkInterfaceConfigurations: imageferry creates its NIC as its own resource",
    ),
    (
        "VirtualMachine_Get_InstanceView.json",
        "the instance view's vmAgent, disks, extensions and patchStatus are not read; statuses are (tested below)",
    ),
    ("VirtualMachine_Delete_Force.json", "a delete has no body"),
    ("NetworkInterfaceDelete.json", "a delete has no body"),
    ("NetworkSecurityGroupDelete.json", "a delete has no body"),
    ("PublicIpAddressDelete.json", "a delete has no body"),
    ("VirtualNetworkDelete.json", "a delete has no body"),
    ("ForceDeleteVMsInResourceGroup.json", "a delete has no body"),
    (
        "ForceDeleteVMsAndVMSSInResourceGroup.json",
        "a delete has no body",
    ),
    (
        "VirtualMachineScaleSet_Create_FromAGeneralizedSharedImage.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSet_Update_MinimumSet_Gen.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSet_Update_MaximumSet_Gen.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSet_UpdateInstances_MinimumSet_Gen.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSet_Delete_Force.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSetVM_List_MaximumSet_Gen.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSetRollingUpgrade_GetLatest_MaximumSet_Gen.json",
        "no scale-set model yet",
    ),
    (
        "VirtualMachineScaleSetRollingUpgrade_StartOSUpgrade_MinimumSet_Gen.json",
        "no scale-set model yet",
    ),
];

fn check_file(path: &Path) {
    let ex = load(path);
    let name = path.file_name().unwrap().to_str().unwrap();
    let mut bodies: Vec<(String, Value)> = response_bodies(&ex);
    if let Some(req) = request_body(&ex) {
        bodies.push(("request".into(), req));
    }
    assert!(!bodies.is_empty(), "{name} has no bodies");
    for (which, body) in &bodies {
        let what = format!("{name} {which}");
        match name {
            n if n.starts_with("OperationStatus") => {
                roundtrip::<OperationStatusBody>(body, &what);
            }
            n if n.starts_with("VirtualMachine_") => {
                roundtrip::<VirtualMachine>(body, &what);
            }
            n if n.starts_with("GalleryImageVersion_") => {
                roundtrip::<GalleryImageVersion>(body, &what);
            }
            n if n.starts_with("GalleryImage_") => {
                roundtrip::<GalleryImage>(body, &what);
            }
            n if n.starts_with("NetworkInterface") => {
                roundtrip::<NetworkInterface>(body, &what);
            }
            n if n.starts_with("NetworkSecurityGroup") => {
                roundtrip::<NetworkSecurityGroup>(body, &what);
            }
            n if n.starts_with("PublicIpAddress") => {
                roundtrip::<PublicIpAddress>(body, &what);
            }
            n if n.starts_with("VirtualNetwork") => {
                roundtrip::<VirtualNetwork>(body, &what);
            }
            n if n.starts_with("CreateResourceGroup") => {
                roundtrip::<ResourceGroup>(body, &what);
            }
            n if n.starts_with("GetMarketplaceTerms") => {
                let a: MarketplaceAgreement = roundtrip(body, &what);
                assert_eq!(a.properties.accepted, Some(true));
            }
            n if n.starts_with("GetPermissions") => {
                let l: PermissionList = roundtrip(body, &what);
                assert!(!l.allows("Microsoft.Compute/virtualMachines/write"));
            }
            n if n.starts_with("GetRoleDefinition") => {
                let r: RoleDefinition = roundtrip(body, &what);
                assert_eq!(r.properties.permissions[0].actions, ["action"]);
            }
            other => panic!("no model mapped for example {other}"),
        }
    }
}

fn all_examples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(EXAMPLES).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_parses_into_the_models() {
    let files = all_examples();
    assert!(files.len() >= 16, "{files:?}");
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_str().unwrap())
        .collect();
    for (name, why) in NOT_MODELLED {
        assert!(names.contains(name), "{name} ({why}) is not an example");
    }
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        if !NOT_MODELLED.iter().any(|(n, _)| *n == name) {
            check_file(f);
        }
    }
}

#[test]
fn replication_status_is_read_from_the_example() {
    let ex = example("gallery/GalleryImageVersion_Get_WithReplicationStatus.json");
    let v: GalleryImageVersion =
        serde_json::from_value(ex["responses"]["200"]["body"].clone()).unwrap();
    assert_eq!(
        v.properties.provisioning_state,
        Some(ProvisioningState::Succeeded)
    );
    let status = v.properties.replication_status.as_ref().unwrap();
    assert_eq!(
        status.aggregated_state,
        Some(AggregatedReplicationState::Completed)
    );
    assert_eq!(status.summary.len(), 2);
    let west = v.region_status("westus").unwrap();
    assert_eq!(west.state, Some(ReplicationState::Completed));
    assert_eq!(west.progress, Some(100));
    assert!(v.targets_region("eastus") && v.targets_region("West US"));
    assert!(v.is_ready_in("westus"));
    assert!(!v.is_ready_in("westus2"));
    let targets = &v
        .properties
        .publishing_profile
        .as_ref()
        .unwrap()
        .target_regions;
    assert_eq!(targets[1].regional_replica_count, Some(2));
}

#[test]
fn unknown_enum_values_do_not_fail() {
    let v: GalleryImageVersion = serde_json::from_value(json!({
        "location": "West US 2",
        "properties": {
            "provisioningState": "Replicating2027",
            "replicationStatus": {"aggregatedState": "Paused", "summary": [
                {"region": "West US 2", "state": "Throttled", "details": "queued", "progress": 3, "newField": true}
            ]},
            "brandNewProperty": {"x": 1}
        }
    }))
    .unwrap();
    let s = v.region_status("westus2").unwrap();
    assert_eq!(s.state, Some(ReplicationState::Other("Throttled".into())));
    assert!(!v.is_ready_in("westus2"));
    assert_eq!(
        v.properties.provisioning_state,
        Some(ProvisioningState::Other("Replicating2027".into()))
    );
}

#[test]
fn gallery_image_definition_fields_and_trusted_launch() {
    let ex = example("gallery/GalleryImage_Get.json");
    let img: GalleryImage = serde_json::from_value(ex["responses"]["200"]["body"].clone()).unwrap();
    assert_eq!(
        img.properties.os_type,
        Some(Tolerant::Known(OsType::Windows))
    );
    assert_eq!(
        img.properties.os_state,
        Some(Tolerant::Known(OsState::Generalized))
    );
    assert_eq!(
        img.properties.hyper_v_generation,
        Some(HyperVGeneration::V1)
    );
    assert!(img.is_generalized() && !img.is_trusted_launch(None));
    assert!(img.vm_plan().is_none());

    // Feature shape from GalleryRP.json `GalleryImageFeature` {name, value}.
    let schema = load(&Path::new(SCHEMAS).join("GalleryRP.json"));
    let feature = &schema["definitions"]["GalleryImageFeature"]["properties"];
    assert!(feature.get("name").is_some() && feature.get("value").is_some());
    assert!(feature.get("startsAtVersion").is_some());
    let mut body = ex["responses"]["200"]["body"].clone();
    body["properties"]["osType"] = json!("Linux");
    body["properties"]["hyperVGeneration"] = json!("V2");
    body["properties"]["features"] = json!([{"name": "SecurityType", "value": "TrustedLaunch"}, {"name": "IsAcceleratedNetworkSupported", "value": "true"}]);
    let tl: GalleryImage = roundtrip(&body, "trusted launch image");
    assert!(tl.is_trusted_launch(Some("1.0.0")));
    assert_eq!(tl.security_type(None), Some("TrustedLaunch"));
    body["properties"]["features"] =
        json!([{"name": "SecurityType", "value": "TrustedLaunchSupported"}]);
    let supported: GalleryImage = serde_json::from_value(body.clone()).unwrap();
    assert!(!supported.is_trusted_launch(None));

    // `startsAtVersion`: the feature applies from that version on (numeric order).
    body["properties"]["features"] =
        json!([{"name": "SecurityType", "value": "TrustedLaunch", "startsAtVersion": "1.10.0"}]);
    let later: GalleryImage = roundtrip(&body, "feature with startsAtVersion");
    assert!(!later.is_trusted_launch(Some("1.9.3")));
    assert!(later.is_trusted_launch(Some("1.10.0")));
    assert!(later.is_trusted_launch(Some("2.0.0")));

    // `purchasePlan` (GalleryRP.json ImagePurchasePlan) becomes the VM's top-level `plan`.
    let plan_schema = &schema["definitions"]["ImagePurchasePlan"]["properties"];
    for f in ["name", "publisher", "product"] {
        assert!(plan_schema.get(f).is_some(), "{f}");
    }
    body["properties"]["purchasePlan"] =
        json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"});
    let marketplace: GalleryImage = roundtrip(&body, "image with purchasePlan");
    let plan = marketplace.vm_plan().unwrap();
    assert_eq!(
        serde_json::to_value(&plan).unwrap(),
        json!({"name": "byol", "publisher": "paloaltonetworks", "product": "vmseries-flex"})
    );
}

#[test]
fn readiness_is_per_region() {
    let version = |provisioning: &str, regions: serde_json::Value| -> GalleryImageVersion {
        serde_json::from_value(json!({"location": "South Central US", "properties": {
            "provisioningState": provisioning,
            "publishingProfile": {"targetRegions": [{"name": "South Central US"}, {"name": "West US 2"}, {"name": "East US"}]},
            "replicationStatus": {"aggregatedState": "InProgress", "summary": regions}
        }}))
        .unwrap()
    };
    // The publisher is adding East US: the version is Updating, South Central US is usable.
    let updating = version(
        "Updating",
        json!([{"region": "South Central US", "state": "Completed", "progress": 100},
               {"region": "West US 2", "state": "Completed", "progress": 100},
               {"region": "East US", "state": "Replicating", "progress": 10}]),
    );
    assert_eq!(
        updating.readiness_in("southcentralus"),
        RegionReadiness::Ready
    );
    assert_eq!(updating.readiness_in("eastus"), RegionReadiness::Waiting);
    assert_eq!(
        updating.readiness_in("northeurope"),
        RegionReadiness::NotTargeted
    );
    // West US 2 failed; the version is Failed as a whole, South Central US still works.
    let failed = version(
        "Failed",
        json!([{"region": "South Central US", "state": "Completed"},
               {"region": "West US 2", "state": "Failed", "details": "disk copy failed"},
               {"region": "East US", "state": "Completed"}]),
    );
    assert_eq!(
        failed.readiness_in("South Central US"),
        RegionReadiness::Ready
    );
    assert_eq!(failed.readiness_in("westus2"), RegionReadiness::Failed);
    // Still being created: a Completed home region waits for the version itself.
    let creating = version(
        "Creating",
        json!([{"region": "South Central US", "state": "Completed"}]),
    );
    assert_eq!(
        creating.readiness_in("southcentralus"),
        RegionReadiness::Waiting
    );
}

#[test]
fn vm_body_deletes_disk_and_nic_with_the_vm() {
    let disk = serde_json::to_value(OsDisk::from_image(None, "Premium_LRS")).unwrap();
    assert_eq!(disk["deleteOption"], "Delete");
    assert_eq!(disk["managedDisk"]["storageAccountType"], "Premium_LRS");
    let nic = serde_json::to_value(NetworkProfile::primary_nic("/nic")).unwrap();
    assert_eq!(
        nic["networkInterfaces"][0]["properties"],
        json!({"primary": true, "deleteOption": "Delete"})
    );
    // Both are in the ComputeRP schema.
    let vm = load(&Path::new(SCHEMAS).join("computeRPCommon.json"));
    assert!(
        vm["definitions"]["OSDisk"]["properties"]
            .get("deleteOption")
            .is_some()
    );
}

#[test]
fn direct_shared_and_community_versions_parse() {
    // Shape per GalleryRP.json SharedGalleryImageVersion / PirSharedGalleryResource.
    let v: SharedGalleryImageVersion = serde_json::from_value(json!({
        "name": "1.0.0", "location": "westus", "type": "Microsoft.Compute/sharedGalleries/images/versions",
        "identifier": {"uniqueId": "/SharedGalleries/abc-myGallery/Images/img/Versions/1.0.0"},
        "properties": {"publishedDate": "2026-01-01T00:00:00Z", "excludeFromLatest": false,
                       "storageProfile": {"osDiskImage": {"diskSizeGB": 30, "hostCaching": "ReadOnly"}}}
    }))
    .unwrap();
    assert_eq!(
        v.identifier.unwrap().unique_id.as_deref(),
        Some("/SharedGalleries/abc-myGallery/Images/img/Versions/1.0.0")
    );
    let schema = load(&Path::new(SCHEMAS).join("GalleryRP.json"));
    for def in [
        "SharedGalleryImageVersionProperties",
        "CommunityGalleryImageVersionProperties",
    ] {
        let props = schema["definitions"][def]["properties"]
            .as_object()
            .unwrap();
        for k in ["publishedDate", "endOfLifeDate", "excludeFromLatest"] {
            assert!(props.contains_key(k), "{def}.{k}");
        }
    }
    let _: CommunityGalleryImageVersion =
        serde_json::from_value(json!({"name": "1.0.0", "properties": {}})).unwrap();
}

fn request(rel: &str) -> Value {
    request_body(&example(rel)).unwrap()
}

#[test]
fn resource_group_vnet_and_public_ip_bodies_match_the_examples() {
    let ours = serde_json::to_value(ResourceGroup::new("eastus")).unwrap();
    assert_eq!(ours, request("resources/CreateResourceGroup.json"));

    let ours = serde_json::to_value(VirtualNetwork::with_subnet(
        "eastus",
        "10.0.0.0/16",
        "test-1",
        "10.0.0.0/24",
    ))
    .unwrap();
    assert_eq!(ours, request("network/VirtualNetworkCreateSubnet.json"));

    let ours = serde_json::to_value(PublicIpAddress::standard_static("eastus")).unwrap();
    let theirs = request("network/PublicIpAddressCreateCustomizedValues.json");
    assert_subset(&ours, &theirs, "publicIP");
    assert_eq!(ours["sku"]["name"], "Standard");
    assert_eq!(ours["properties"]["publicIPAllocationMethod"], "Static");
}

#[test]
fn nsg_and_nic_bodies_match_the_example_shapes() {
    let nsg = NetworkSecurityGroup::allow_inbound_tcp("eastus", "default-allow-ssh", 22, 1000);
    let ours = serde_json::to_value(&nsg).unwrap();
    assert_shape(
        &ours,
        &request("network/NetworkSecurityGroupCreateWithRule.json"),
        "nsg",
        &[],
    );
    assert_eq!(
        ours["properties"]["securityRules"][0]["properties"]["destinationPortRange"],
        "22"
    );

    let nic = NetworkInterface::new(
        "eastus",
        "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/rg1-vnet/subnets/default",
        Some("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/publicIPAddresses/test-ip".into()),
        Some("/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/nsg".into()),
    );
    let ours = serde_json::to_value(&nic).unwrap();
    let theirs = request("network/NetworkInterfaceCreate.json");
    // Not in the request example; both are NetworkInterface(IPConfiguration)PropertiesFormat fields
    // (privateIPAllocationMethod appears in the example's response).
    let extra = [
        "nic.properties.networkSecurityGroup",
        "nic.properties.ipConfigurations[].properties.privateIPAllocationMethod",
    ];
    assert_shape(&ours, &theirs, "nic", &extra);
    let response = &example("network/NetworkInterfaceCreate.json")["responses"]["200"]["body"];
    assert_eq!(
        response["properties"]["ipConfigurations"][0]["properties"]["privateIPAllocationMethod"],
        "Dynamic"
    );
}

fn vm(image: ImageReference, os_profile: Option<OsProfile>) -> VirtualMachine {
    VirtualMachine {
        location: "westus".into(),
        properties: VirtualMachineProperties {
            hardware_profile: Some(HardwareProfile {
                vm_size: "Standard_D1_v2".into(),
            }),
            storage_profile: Some(StorageProfile {
                image_reference: Some(image),
                os_disk: Some(OsDisk::from_image(
                    Some("myVMosdisk".into()),
                    "Standard_LRS",
                )),
            }),
            os_profile,
            network_profile: Some(NetworkProfile::primary_nic(
                "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Network/networkInterfaces/{existing-nic-name}",
            )),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn password_profile() -> OsProfile {
    OsProfile::password("myVM", "{your-username}", "{your-password}".into())
}

#[test]
fn vm_bodies_match_the_examples() {
    let gallery_image = "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/galleries/mySharedGallery/images/mySharedImage";
    let cases = [
        (
            "compute/VirtualMachine_Create_FromAGeneralizedSharedImage.json",
            vm(
                ImageReference::gallery(gallery_image),
                Some(password_profile()),
            ),
        ),
        (
            "compute/VirtualMachine_Create_FromASpecializedSharedImage.json",
            vm(ImageReference::gallery(gallery_image), None),
        ),
        (
            "compute/VirtualMachine_Create_FromASharedGalleryImage.json",
            vm(
                ImageReference::shared_gallery(
                    "/SharedGalleries/sharedGalleryName/Images/sharedGalleryImageName/Versions/sharedGalleryImageVersionName",
                ),
                Some(password_profile()),
            ),
        ),
        (
            "compute/VirtualMachine_Create_FromACommunityGalleryImage.json",
            vm(
                ImageReference::community_gallery(
                    "/CommunityGalleries/galleryPublicName/Images/communityGalleryImageName/Versions/communityGalleryImageVersionName",
                ),
                Some(password_profile()),
            ),
        ),
    ];
    for (file, body) in cases {
        // The examples keep ARM's default (`Detach`); imageferry's bodies add
        // `deleteOption: Delete` on the OS disk and the NIC and are otherwise the example.
        let mut ours = serde_json::to_value(&body).unwrap();
        let p = &mut ours["properties"];
        let disk = p["storageProfile"]["osDisk"].as_object_mut().unwrap();
        assert_eq!(disk.remove("deleteOption"), Some(json!("Delete")), "{file}");
        let nic = p["networkProfile"]["networkInterfaces"][0]["properties"]
            .as_object_mut()
            .unwrap();
        assert_eq!(nic.remove("deleteOption"), Some(json!("Delete")), "{file}");
        assert_eq!(ours, request(file), "{file}");
    }

    let ssh_example = request("compute/VirtualMachine_Create_WithSshAuthentication.json");
    let key = ssh_example["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]
        ["keyData"]
        .as_str()
        .unwrap();
    let ours = OsProfile::linux_ssh("myVM", "{your-username}", key);
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        ssh_example["properties"]["osProfile"]
    );
}

#[test]
fn trusted_launch_profile_matches_the_schema() {
    let schema = load(&Path::new(SCHEMAS).join("computeRPCommon.json"));
    let defs = &schema["definitions"];
    let ours = serde_json::to_value(SecurityProfile::trusted_launch()).unwrap();
    for k in ours.as_object().unwrap().keys() {
        assert!(
            defs["SecurityProfile"]["properties"].get(k).is_some(),
            "SecurityProfile.{k}"
        );
    }
    for k in ours["uefiSettings"].as_object().unwrap().keys() {
        assert!(
            defs["UefiSettings"]["properties"].get(k).is_some(),
            "UefiSettings.{k}"
        );
    }
    let types = defs["SecurityProfile"]["properties"]["securityType"]["enum"].to_string();
    assert!(types.contains("TrustedLaunch"), "{types}");
    assert_eq!(
        ours,
        json!({"securityType": "TrustedLaunch", "uefiSettings": {"secureBootEnabled": true, "vTpmEnabled": true}})
    );
}

#[test]
fn admin_password_is_redacted_in_debug_but_sent_in_the_body() {
    let body = vm(
        ImageReference::gallery("/x"),
        Some(OsProfile::password(
            "vm",
            "azureuser",
            "Sup3r-S3cret!".into(),
        )),
    );
    assert!(!format!("{body:?}").contains("Sup3r-S3cret!"));
    assert_eq!(
        serde_json::to_value(&body).unwrap()["properties"]["osProfile"]["adminPassword"],
        "Sup3r-S3cret!"
    );
}

#[test]
fn marketplace_agreement_path_uses_plain_identifiers_only() {
    let plan = Plan {
        name: "byol".into(),
        publisher: "paloaltonetworks".into(),
        product: "vmseries-flex".into(),
        promotion_code: None,
    };
    let sub = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
    assert_eq!(
        plan.agreement_path(sub).unwrap().to_string(),
        format!(
            "/subscriptions/{sub}/providers/Microsoft.MarketplaceOrdering/offerTypes/virtualmachine/publishers/paloaltonetworks/offers/vmseries-flex/plans/byol/agreements/current"
        )
    );
    for product in ["../x", "..", "a%2fb", "a b", ""] {
        let odd = Plan {
            product: product.into(),
            ..plan.clone()
        };
        assert!(odd.agreement_path(sub).is_none(), "{product:?}");
    }
    assert!(
        plan.agreement_path("bbbb").is_none(),
        "not a subscription GUID"
    );
    assert!(plan.agreement_path("").is_none());
}

#[test]
fn a_failed_vm_names_its_provisioning_error_in_the_instance_view() {
    let vm: VirtualMachine = serde_json::from_value(json!({
        "location": "southcentralus",
        "properties": {"provisioningState": "Failed", "instanceView": {"statuses": [
            {"code": "ProvisioningState/failed/ZonalAllocationFailed", "level": "Error",
             "displayStatus": "Provisioning failed",
             "message": "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone."},
            {"code": "PowerState/stopped", "level": "Info", "displayStatus": "VM stopped"}
        ]}}
    }))
    .unwrap();
    let e = vm.provisioning_error().unwrap();
    assert_eq!(e.code, "ZonalAllocationFailed");
    assert!(e.message.starts_with("Allocation failed"));
    let running: VirtualMachine = serde_json::from_value(json!({"properties": {
        "provisioningState": "Succeeded",
        "instanceView": {"statuses": [{"code": "ProvisioningState/succeeded", "level": "Info"}]}
    }}))
    .unwrap();
    assert!(running.provisioning_error().is_none());
    let bare: VirtualMachine = serde_json::from_value(json!({"properties": {}})).unwrap();
    assert!(bare.provisioning_error().is_none());
}
