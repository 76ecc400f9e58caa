//! Managed disks (`Microsoft.Compute/disks`): the OS disk a VM creates from its image, as a
//! resource of its own (GET, list, DELETE; `managedBy` names the VM while attached). Shape:
//! Compute `disk.json` `Disk` (`managedBy`, `sku`, `properties{osType, hyperVGeneration,
//! creationData{createOption, galleryImageReference|imageReference}, diskSizeGB, diskState,
//! uniqueId, timeCreated, provisioningState}`), as `az disk show` prints it.

use serde_json::{Value, json};

use crate::state::{Resource, State, key};

const DISK_TYPE: &str = "Microsoft.Compute/disks";

/// A standalone disk PUT: sets the server-populated fields.
pub(crate) fn prepare(id: &str, name: &str, mut body: Value) -> Value {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    body["type"] = json!(DISK_TYPE);
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
    let p = &mut body["properties"];
    if p.get("diskState").is_none() {
        p["diskState"] = json!("Unattached");
    }
    if p.get("uniqueId").is_none() {
        p["uniqueId"] = json!(uuid::Uuid::new_v4().to_string());
    }
    body
}

/// The id of the OS disk a VM body names (`storageProfile.osDisk.managedDisk.id`), or the one
/// Azure gives it (same resource group, the disk's name).
fn os_disk_id(vm_id: &str, vm: &Value) -> Option<String> {
    if let Some(id) = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].as_str() {
        return Some(id.to_owned());
    }
    let name = vm["properties"]["storageProfile"]["osDisk"]["name"].as_str()?;
    let rg = vm_id.split("/providers/").next()?;
    Some(format!("{rg}/providers/Microsoft.Compute/disks/{name}"))
}

/// On a VM PUT: names the OS disk in the body (`managedDisk.id`; an absent `deleteOption`
/// means `Detach`, the Compute API's default) and creates it (`managedBy` = the VM) the first time.
pub(crate) fn attach_os_disk(
    st: &mut State,
    vm: &mut Value,
    vm_id: &str,
    existing: Option<&Resource>,
    ready_at: f64,
) {
    let Some(disk_id) = os_disk_id(vm_id, vm) else {
        return;
    };
    let location = vm["location"].clone();
    let os = &mut vm["properties"]["storageProfile"]["osDisk"];
    if !os["managedDisk"].is_object() {
        os["managedDisk"] = json!({});
    }
    let account = os["managedDisk"]["storageAccountType"]
        .as_str()
        .unwrap_or("Premium_LRS")
        .to_owned();
    os["managedDisk"]["storageAccountType"] = json!(account);
    os["managedDisk"]["id"] = json!(disk_id);
    if os.get("caching").is_none() {
        os["caching"] = json!("ReadWrite");
    }
    let size = os["diskSizeGB"].clone();
    let os_type = os["osType"].clone();
    let image = vm["properties"]["storageProfile"]["imageReference"].clone();
    if existing.is_some() || st.resources.contains_key(&key(&disk_id)) {
        return;
    }
    let name = disk_id.rsplit('/').next().unwrap_or_default().to_owned();
    let mut creation = json!({"createOption": "FromImage"});
    if let Some(image_id) = image["id"].as_str() {
        creation["galleryImageReference"] = json!({"id": image_id});
    } else if let Some(shared) = image["sharedGalleryImageId"].as_str() {
        creation["galleryImageReference"] = json!({"sharedGalleryImageId": shared});
    } else if let Some(community) = image["communityGalleryImageId"].as_str() {
        creation["galleryImageReference"] = json!({"communityGalleryImageId": community});
    } else {
        creation["imageReference"] = image;
    }
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = json!({
        "id": disk_id,
        "name": name,
        "type": DISK_TYPE,
        "location": location,
        "managedBy": vm_id,
        "sku": {"name": account, "tier": if account.starts_with("Premium") { "Premium" } else { "Standard" }},
        "properties": {
            "osType": os_type,
            "hyperVGeneration": "V2",
            "creationData": creation,
            "diskSizeGB": size,
            "diskState": "Attached",
            "uniqueId": uuid::Uuid::new_v4().to_string(),
            "timeCreated": created,
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled"
        }
    });
    st.resources.insert(
        key(&disk_id),
        Resource {
            id: disk_id.clone(),
            resource_type: DISK_TYPE.to_owned(),
            body,
            put_count: 0,
            creating: true,
            ready_at,
            fail: false,
            replication: Vec::new(),
        },
    );
}

/// After the VM that used it is gone: the disk is unattached.
pub(crate) fn detach(st: &mut State, vm_id: &str) {
    let vm = key(vm_id);
    for r in st.resources.values_mut() {
        if r.resource_type == DISK_TYPE
            && r.body["managedBy"].as_str().is_some_and(|m| key(m) == vm)
        {
            if let Some(o) = r.body.as_object_mut() {
                o.remove("managedBy");
            }
            r.body["properties"]["diskState"] = json!("Unattached");
        }
    }
}
