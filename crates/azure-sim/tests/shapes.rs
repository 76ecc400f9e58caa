//! For every example under reference/arm/examples, the simulator's response to the same request
//! has the same shape (field names and JSON types, recursively; values ignored).
//!
//! The example requests are sent with the spec authors' placeholders replaced by the default
//! scenario's ids. Fields listed in `ignore` are the only tolerated differences; each has a reason.

mod common;

use std::time::Duration;

use azure_sim::Scenario;
use azure_sim::scenario::{Role, RoleAssignment};
use common::*;
use serde_json::Value;

/// Seed scenario where the app may also create resource groups and gallery versions.
async fn env() -> (Env, String, String) {
    let mut s = Scenario::seed();
    for scope in [
        format!("/subscriptions/{SUB1}"),
        format!("/subscriptions/{SUB2}"),
    ] {
        s.role_assignments.push(RoleAssignment {
            principal: APP.into(),
            role: Role::Contributor,
            scope,
        });
    }
    let env = Env::with(s).await;
    let (t2, t1) = env.cross_tenant_tokens().await;
    (env, t2, t1)
}

/// The example's request body with placeholders replaced (longest first).
fn request(ex: &Value, key: &str, replacements: &[(&str, &str)]) -> Value {
    let mut text = ex["parameters"][key].to_string();
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

fn assert_shape(ex: &Value, status: u16, r: &Resp, ignore: &[&str]) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let expected = &ex["responses"][status.to_string()]["body"];
    assert!(expected.is_object(), "example has a {status} body");
    let diff = shape_diff(expected, &r.body, ignore);
    assert!(
        diff.is_empty(),
        "shape differs from the example ({status}):\n{}\nactual: {}",
        diff.join("\n"),
        r.body
    );
}

const SUB_PLACEHOLDERS: [(&str, &str); 4] = [
    ("{subscription-id}", SUB2),
    ("{subscriptionId}", SUB2),
    ("subid", SUB2),
    ("00000000-0000-0000-0000-000000000000", SUB2),
];

#[tokio::test]
async fn resource_group_create() {
    let (env, t2, _) = env().await;
    let ex = example("resources/CreateResourceGroup.json");
    let body = request(&ex, "parameters", &SUB_PLACEHOLDERS);
    let path = format!(
        "/subscriptions/{SUB2}/resourceGroups/my-resource-group?api-version={RESOURCES_API}"
    );
    // The example's body leaves out `type`; ARM returns it (`ResourceGroup.type`, readOnly, in
    // resources.json), and clients read it.
    let created = env.put(&path, &t2, body.clone()).await;
    assert_eq!(created.body["type"], "Microsoft.Resources/resourceGroups");
    assert_shape(&ex, 201, &created, &["type"]);
    assert_shape(&ex, 200, &env.put(&path, &t2, body).await, &["type"]);
}

#[tokio::test]
async fn network_examples() {
    let (env, t2, _) = env().await;
    let n = format!("{RG2}/providers/Microsoft.Network");
    let q = format!("?api-version={NETWORK_API}");
    let mut repl = vec![("rg1", "myResourceGroup")];
    repl.extend(SUB_PLACEHOLDERS);

    let vnet = example("network/VirtualNetworkCreateSubnet.json");
    let body = request(&vnet, "parameters", &repl);
    let path = format!("{n}/virtualNetworks/test-vnet{q}");
    assert_shape(&vnet, 201, &env.put(&path, &t2, body.clone()).await, &[]);
    assert_shape(&vnet, 200, &env.put(&path, &t2, body).await, &[]);
    // GET of one subnet has the shape of a subnet entry.
    let subnet = env
        .get(
            &format!("{n}/virtualNetworks/test-vnet/subnets/test-1{q}"),
            &t2,
        )
        .await;
    let expected = &vnet["responses"]["200"]["body"]["properties"]["subnets"][0];
    assert_eq!(
        shape_diff(expected, &subnet.body, &[]),
        Vec::<String>::new()
    );

    let nsg = example("network/NetworkSecurityGroupCreateWithRule.json");
    let body = request(&nsg, "parameters", &repl);
    let path = format!("{n}/networkSecurityGroups/testnsg{q}");
    assert_shape(&nsg, 201, &env.put(&path, &t2, body.clone()).await, &[]);
    assert_shape(&nsg, 200, &env.put(&path, &t2, body).await, &[]);

    // The examples' public IP "test-ip" is attached to a NIC ("ipConfiguration"); before the NIC
    // exists it has none.
    let pip = example("network/PublicIpAddressCreateDefaults.json");
    let pip_body = request(&pip, "parameters", &repl);
    let pip_path = format!("{n}/publicIPAddresses/test-ip{q}");
    assert_shape(
        &pip,
        201,
        &env.put(&pip_path, &t2, pip_body.clone()).await,
        &["properties.ipConfiguration"],
    );

    let custom = example("network/PublicIpAddressCreateCustomizedValues.json");
    let body = request(&custom, "parameters", &repl);
    // `zones` is not requested; the example's service picked a zone, the simulator does not.
    // `ipAddress` (a PublicIPAddressPropertiesFormat field in the Network swagger) is allocated
    // at creation for a Static address; the example omits it.
    let created = env
        .put(&format!("{n}/publicIPAddresses/test-ip2{q}"), &t2, body)
        .await;
    assert_shape(
        &custom,
        201,
        &created,
        &[
            "zones",
            "properties.ipConfiguration",
            "properties.ipAddress",
        ],
    );
    let address = created.body["properties"]["ipAddress"].as_str().unwrap();
    assert!(address.starts_with("198.51.100."), "{address}");

    // The NIC example needs VNet rg1-vnet (renamed with the resource group) with subnet "default".
    let r = env
        .put(
            &format!("{n}/virtualNetworks/myResourceGroup-vnet{q}"),
            &t2,
            serde_json::json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["172.20.0.0/16"]}, "subnets": [{"name": "default", "properties": {"addressPrefix": "172.20.2.0/24"}}]}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let nic = example("network/NetworkInterfaceCreate.json");
    let body = request(&nic, "parameters", &repl);
    let path = format!("{n}/networkInterfaces/test-nic{q}");
    // The example's 201 body omits disableTcpStateTracking although the request sets it (its 200 has it).
    assert_shape(
        &nic,
        201,
        &env.put(&path, &t2, body.clone()).await,
        &["properties.disableTcpStateTracking"],
    );
    assert_shape(&nic, 200, &env.put(&path, &t2, body).await, &[]);

    // Now attached: the public IP shows ipConfiguration like the example.
    assert_shape(&pip, 200, &env.put(&pip_path, &t2, pip_body).await, &[]);
}

/// Example VM create: PUT twice (201, then 200), compare both.
async fn vm_example(
    env: &Env,
    t2: &str,
    aux: &[&str],
    file: &str,
    vm: &str,
    image: (&str, &str),
    ignore: &[&str],
) -> Resp {
    let ex = example(file);
    let nic = env.network(t2, vm, "southcentralus").await;
    let nic_name = nic.rsplit('/').next().unwrap();
    let mut repl = vec![
        image,
        ("{existing-nic-name}", nic_name),
        ("\"westus\"", "\"southcentralus\""),
    ];
    repl.extend(SUB_PLACEHOLDERS);
    let body = request(&ex, "parameters", &repl);
    let first = env.put_vm(vm, t2, aux, body.clone()).await;
    assert_shape(&ex, 201, &first, ignore);
    assert_shape(&ex, 200, &env.put_vm(vm, t2, aux, body).await, ignore);
    first
}

const EXAMPLE_GALLERY_IMAGE: &str = "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/galleries/mySharedGallery/images/mySharedImage";

#[tokio::test]
async fn virtual_machine_create_examples() {
    let (env, t2, t1) = env().await;
    for i in ["myImageDefinition", "mySpecializedImage"] {
        env.replicate_all(i);
    }
    // timeCreated is returned by the service (VirtualMachine_Get.json) but absent from the create examples.
    let ignore = ["properties.timeCreated"];
    let generalized = format!("{GALLERY}/images/myImageDefinition");
    let first = vm_example(
        &env,
        &t2,
        &[&t1],
        "compute/VirtualMachine_Create_FromAGeneralizedSharedImage.json",
        "vmGen",
        (EXAMPLE_GALLERY_IMAGE, &generalized),
        &ignore,
    )
    .await;
    let specialized = format!("{GALLERY}/images/mySpecializedImage");
    vm_example(
        &env,
        &t2,
        &[&t1],
        "compute/VirtualMachine_Create_FromASpecializedSharedImage.json",
        "vmSpec",
        (EXAMPLE_GALLERY_IMAGE, &specialized),
        &ignore,
    )
    .await;
    let shared =
        format!("/SharedGalleries/{SUB1}-MYGALLERY/Images/myImageDefinition/Versions/1.0.0");
    vm_example(
        &env,
        &t2,
        &[],
        "compute/VirtualMachine_Create_FromASharedGalleryImage.json",
        "vmShared",
        ("/SharedGalleries/sharedGalleryName/Images/sharedGalleryImageName/Versions/sharedGalleryImageVersionName", &shared),
        &ignore,
    )
    .await;
    vm_example(
        &env,
        &t2,
        &[],
        "compute/VirtualMachine_Create_FromACommunityGalleryImage.json",
        "vmCommunity",
        (
            "/CommunityGalleries/galleryPublicName/Images/communityGalleryImageName/Versions/communityGalleryImageVersionName",
            "/CommunityGalleries/myGalleryPublic-0a1b2c3d/Images/myImageDefinition/Versions/1.0.0",
        ),
        &ignore,
    )
    .await;
    // The SSH example's 201 omits osDisk.diskSizeGB, which the other create examples show.
    vm_example(
        &env,
        &t2,
        &[],
        "compute/VirtualMachine_Create_WithSshAuthentication.json",
        "vmSsh",
        ("{image_sku}", "22_04-lts-gen2"),
        &[
            "properties.timeCreated",
            "properties.storageProfile.osDisk.diskSizeGB",
        ],
    )
    .await;

    // The operation status of the first create has the shape of OperationStatusResultGet.json.
    let op = env.operation_path(&first);
    let status = env.get(&op, &t2).await;
    assert_shape(
        &example("compute/OperationStatusResultGet.json"),
        200,
        &status,
        &[],
    );
}

#[tokio::test]
async fn virtual_machine_get_example() {
    let (env, t2, _) = env().await;
    let ex = example("compute/VirtualMachine_Get.json");
    // Create the VM the GET example describes: its body minus what the service populates.
    let mut body = ex["responses"]["200"]["body"].clone();
    let text = body
        .to_string()
        .replace("{subscription-id}", SUB2)
        .replace("{myNIC}", "myGetVMNic");
    body = serde_json::from_str(&text).unwrap();
    for f in ["id", "name", "type", "etag", "resources", "managedBy"] {
        body.as_object_mut().unwrap().remove(f);
    }
    let props = body["properties"].as_object_mut().unwrap();
    for f in ["vmId", "provisioningState", "timeCreated"] {
        props.remove(f);
    }
    body["location"] = "southcentralus".into();
    body["properties"]["osProfile"]["adminPassword"] = "Sup3r-Secret-Pw!".into();
    env.network(&t2, "myGet", "southcentralus").await;
    let r = env.put_vm("myVM", &t2, &[], body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    env.sim.advance(Duration::from_secs(60));
    let got = env
        .get(&format!("{RG2}/providers/Microsoft.Compute/virtualMachines/myVM?api-version={COMPUTE_API}&$expand=userData"), &t2)
        .await;
    // Not modelled: VM extensions (`resources`), `etag`, `managedBy` (VMSS membership).
    assert_shape(&ex, 200, &got, &["resources", "etag", "managedBy"]);
    assert_eq!(got.body["properties"]["provisioningState"], "Succeeded");
}

#[tokio::test]
async fn gallery_examples() {
    let (env, _, t1) = env().await;
    let image = env
        .get(
            &format!("{GALLERY}/images/myImageDefinition?api-version={GALLERY_API}"),
            &t1,
        )
        .await;
    assert_shape(&example("gallery/GalleryImage_Get.json"), 200, &image, &[]);

    let ex = example("gallery/GalleryImageVersion_Get_WithReplicationStatus.json");
    let version = env
        .get(
            &format!(
                "{}?api-version={GALLERY_API}&$expand=ReplicationStatus",
                version_id("myImageDefinition")
            ),
            &t1,
        )
        .await;
    // `encryption` is optional per target region; the seeded versions do not use disk encryption sets.
    assert_shape(
        &ex,
        200,
        &version,
        &["properties.publishingProfile.targetRegions[].encryption"],
    );

    let ex = example("gallery/GalleryImageVersion_Create.json");
    let body = request(&ex, "galleryImageVersion", &SUB_PLACEHOLDERS);
    let path =
        format!("{GALLERY}/images/myImageDefinition/versions/1.0.1?api-version={GALLERY_API}");
    assert_shape(&ex, 201, &env.put(&path, &t1, body.clone()).await, &[]);
    assert_shape(&ex, 200, &env.put(&path, &t1, body).await, &[]);
}

/// Bodies the simulator returns validate against the swagger definitions too (no invented fields).
#[tokio::test]
async fn responses_validate_against_the_swagger() {
    let (env, t2, t1) = env().await;
    env.replicate_all("myImageDefinition");
    let nic = env.network(&t2, "vmv", "southcentralus").await;
    let r = env
        .put_vm(
            "vmv",
            &t2,
            &[&t1],
            vm_body(
                serde_json::json!({"id": version_id("myImageDefinition")}),
                &nic,
                "southcentralus",
                true,
            ),
        )
        .await;
    assert_eq!(r.status, 201);
    let check = |file: &str, def: &str, body: &Value| {
        let v = azure_sim::arm::schema::validate(file, def, body).unwrap();
        assert!(
            v.is_empty(),
            "{def}: {}",
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    };
    check("virtualMachine.json", "VirtualMachine", &r.body);
    let v = env
        .get(
            &format!(
                "{}?api-version={GALLERY_API}&$expand=ReplicationStatus",
                version_id("myImageDefinition")
            ),
            &t1,
        )
        .await;
    check("GalleryRP.json", "GalleryImageVersion", &v.body);
    let i = env
        .get(
            &format!("{GALLERY}/images/myTrustedLaunchImage?api-version={GALLERY_API}"),
            &t1,
        )
        .await;
    check("GalleryRP.json", "GalleryImage", &i.body);
    let g = env
        .get(&format!("{GALLERY}?api-version={GALLERY_API}"), &t1)
        .await;
    check("GalleryRP.json", "Gallery", &g.body);
    assert!(
        azure_sim::arm::schema::validate("GalleryRP.json", "NoSuchDefinition", &g.body).is_err()
    );
}
