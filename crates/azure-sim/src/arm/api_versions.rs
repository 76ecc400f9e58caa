//! The `api-version`s each resource type accepts, and ARM's and Key Vault's refusals of others.
//!
//! ARM answers an unknown version with 400: for `Microsoft.Resources` (resource groups,
//! deployments, subscriptions) `InvalidApiVersionParameter` "The api-version '{v}' is invalid.
//! The supported versions are '{newest first}'." (Azure/azure-cli#27239, #28038,
//! azure-rest-api-specs#11711); for a resource provider's type `NoRegisteredProviderFound` "No
//! registered resource provider found for location '{loc}' and API version '{v}' for type
//! '{type}'. The supported api-versions are '{oldest first}'. The supported locations are
//! '{…}'." (Azure/azure-cli#28496, AutomatedLab#1361, Azure/migAz#246). Key Vault: 400
//! `BadParameter` "The specified version ({v}) is not recognized. Consider using the latest
//! supported version ({latest})." (Azure/azure-sdk-for-python#28595).
//!
//! The lists, oldest first. Sources: the versions quoted in those refusals; learn.microsoft.com
//! `azure/templates/microsoft.compute/allversions` (virtual machines up to 2025-04-01, disks,
//! galleries, and the Network versions of `cloudServices/roleInstances/networkInterfaces` up to
//! 2025-05-01); the azure-rest-api-specs folders named in reference/arm/README.md; Azure/aaz#992
//! (Compute 2025-11-01); and what the pinned Microsoft clients send, which Azure accepts by
//! construction (azure-mgmt-compute 39.0.0: virtual machines 2026-04-01, disks 2026-03-02,
//! galleries 2026-03-03; azure-mgmt-network 33.1.0: 2026-03-01; azure-mgmt-resource 26.0.0:
//! 2025-04-01; azure-mgmt-resource-deployments 2.0.0: 2026-06-01; azure-keyvault-secrets 4.12.0's `ApiVersion` enum for Key Vault). A version
//! missing here that Azure serves would be refused: the list is what could be confirmed.

use http::StatusCode;

use crate::http::Reply;

/// Virtual machines (and the Compute types without a list of their own).
const COMPUTE: &[&str] = &[
    "2015-05-01-preview",
    "2015-06-15",
    "2016-03-30",
    "2016-04-30-preview",
    "2016-08-30",
    "2017-03-30",
    "2017-12-01",
    "2018-04-01",
    "2018-06-01",
    "2018-10-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-06-01",
    "2020-12-01",
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-04-01",
];

/// Scale sets and their instances (`virtualMachineScaleSets`, `…/virtualMachines`, the actions
/// on them): the Compute versions from 2015-06-15, the first with scale sets (the SDKs'
/// per-version clients: azure_mgmt_compute `V2015_06_15::VirtualMachineScaleSets` and
/// `VirtualMachineScaleSetVMs`); reference/arm/schemas/virtualMachineScaleSet.json is 2025-04-01.
const SCALE_SETS: &[&str] = COMPUTE.split_at(1).1;

/// Scale-set extensions and rolling upgrades (`…/extensions`, `…/rollingUpgrades`,
/// `…/osRollingUpgrade`): from 2017-03-30 (azure-mgmt-compute
/// `v2017_03_30.operations.VirtualMachineScaleSetExtensionsOperations`; Az.Compute's
/// `Start-AzVmssRollingOSUpgrade` returns `Api20170330.IOperationStatusResponse`).
const SCALE_SET_ADDONS: &[&str] = COMPUTE.split_at(5).1;

/// Managed disks.
const DISKS: &[&str] = &[
    "2016-04-30-preview",
    "2017-03-30",
    "2018-04-01",
    "2018-06-01",
    "2018-09-30",
    "2019-03-01",
    "2019-07-01",
    "2019-11-01",
    "2020-05-01",
    "2020-06-30",
    "2020-09-30",
    "2020-12-01",
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",
];

/// Compute galleries, their images and versions, shared and community galleries.
const GALLERIES: &[&str] = &[
    "2018-06-01",
    "2019-03-01",
    "2019-07-01",
    "2019-12-01",
    "2020-09-30",
    "2021-07-01",
    "2021-10-01",
    "2022-01-03",
    "2022-03-03",
    "2022-08-03",
    "2023-07-03",
    "2024-03-03",
    "2025-03-03",
    "2026-03-03",
];

/// Every Microsoft.Network type the stand-in serves (the RP versions them together).
const NETWORK: &[&str] = &[
    "2014-12-01-preview",
    "2015-05-01-preview",
    "2015-06-15",
    "2016-03-30",
    "2016-06-01",
    "2016-07-01",
    "2016-08-01",
    "2016-09-01",
    "2016-10-01",
    "2016-11-01",
    "2016-12-01",
    "2017-03-01",
    "2017-04-01",
    "2017-06-01",
    "2017-08-01",
    "2017-09-01",
    "2017-10-01",
    "2017-11-01",
    "2018-01-01",
    "2018-02-01",
    "2018-03-01",
    "2018-04-01",
    "2018-05-01",
    "2018-06-01",
    "2018-07-01",
    "2018-08-01",
    "2018-10-01",
    "2018-11-01",
    "2018-12-01",
    "2019-02-01",
    "2019-04-01",
    "2019-06-01",
    "2019-07-01",
    "2019-08-01",
    "2019-09-01",
    "2019-11-01",
    "2019-12-01",
    "2020-01-01",
    "2020-03-01",
    "2020-04-01",
    "2020-05-01",
    "2020-06-01",
    "2020-07-01",
    "2020-08-01",
    "2020-11-01",
    "2021-01-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2022-01-01",
    "2022-05-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-02-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
    "2026-03-01",
];

/// Microsoft.Resources (resource groups, resources, deployments, subscriptions, tenants), in
/// the order ARM prints them (newest first, its old tail as quoted).
const RESOURCES: &[&str] = &[
    "2026-06-01",
    "2025-04-01",
    "2024-11-01",
    "2024-08-01",
    "2024-06-01-preview",
    "2024-03-01",
    "2023-07-01",
    "2023-07-01-preview",
    "2023-03-01-preview",
    "2022-12-01",
    "2022-11-01-preview",
    "2022-09-01",
    "2022-06-01",
    "2022-05-01",
    "2022-03-01-preview",
    "2022-01-01",
    "2021-04-01",
    "2021-01-01",
    "2020-10-01",
    "2020-09-01",
    "2020-08-01",
    "2020-07-01",
    "2020-06-01",
    "2020-05-01",
    "2020-01-01",
    "2019-11-01",
    "2019-10-01",
    "2019-09-01",
    "2019-08-01",
    "2019-07-01",
    "2019-06-01",
    "2019-05-10",
    "2019-05-01",
    "2019-03-01",
    "2018-11-01",
    "2018-09-01",
    "2018-08-01",
    "2018-07-01",
    "2018-06-01",
    "2018-05-01",
    "2018-02-01",
    "2018-01-01",
    "2017-12-01",
    "2017-08-01",
    "2017-06-01",
    "2017-05-10",
    "2017-05-01",
    "2017-03-01",
    "2016-09-01",
    "2016-07-01",
    "2016-06-01",
    "2016-02-01",
    "2015-11-01",
    "2015-01-01",
    "2014-04-01-preview",
    "2014-04-01",
    "2014-01-01",
    "2013-03-01",
    "2014-02-26",
    "2014-04",
];

/// Marketplace terms agreements.
const MARKETPLACE: &[&str] = &["2015-06-01", "2021-01-01"];

/// Microsoft.Authorization permissions.
const AUTHORIZATION: &[&str] = &[
    "2015-07-01",
    "2018-01-01-preview",
    "2022-04-01",
    "2022-05-01-preview",
];

/// Key Vault data plane (azure-keyvault-secrets 4.12.0 `ApiVersion`).
pub(crate) const KEY_VAULT: &[&str] = &[
    "2016-10-01",
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-07-01",
    "2026-04-01",
];

/// Regions named in `NoRegisteredProviderFound` (a subset of Azure's public regions).
const LOCATIONS: &str = "eastus, eastus2, westus, westus2, westus3, centralus, northcentralus, southcentralus, westcentralus, northeurope, westeurope, uksouth, ukwest, francecentral, germanywestcentral, swedencentral, switzerlandnorth, norwayeast, eastasia, southeastasia, japaneast, japanwest, australiaeast, australiasoutheast, centralindia, southindia, canadacentral, canadaeast, brazilsouth, koreacentral, southafricanorth, uaenorth";

/// The versions `namespace`/`resource_type` (e.g. `Microsoft.Compute`, `galleries/images`)
/// accepts; `None` for a namespace the stand-in does not know (it answers those 404 anyway).
pub(crate) fn supported(namespace: &str, resource_type: &str) -> Option<&'static [&'static str]> {
    let t = resource_type.to_ascii_lowercase();
    Some(match namespace.to_ascii_lowercase().as_str() {
        "microsoft.compute"
            if t.starts_with("galleries")
                || t.contains("sharedgalleries")
                || t.contains("communitygalleries") =>
        {
            GALLERIES
        }
        "microsoft.compute" if t.starts_with("disks") => DISKS,
        "microsoft.compute"
            if t.starts_with("virtualmachinescalesets/")
                && ["extensions", "rollingupgrades", "osrollingupgrade"]
                    .iter()
                    .any(|a| t.split('/').any(|s| s == *a)) =>
        {
            SCALE_SET_ADDONS
        }
        "microsoft.compute" if t.starts_with("virtualmachinescalesets") => SCALE_SETS,
        "microsoft.compute" => COMPUTE,
        "microsoft.network" => NETWORK,
        "microsoft.resources" => RESOURCES,
        "microsoft.marketplaceordering" => MARKETPLACE,
        "microsoft.authorization" => AUTHORIZATION,
        _ => return None,
    })
}

/// Whether `version` is in `list` (ARM compares case-insensitively: `2021-01-01-Preview`).
fn listed(list: &[&str], version: &str) -> bool {
    list.iter().any(|v| v.eq_ignore_ascii_case(version))
}

/// ARM's check of `api-version` for a request on `namespace`/`resource_type` in `location`.
pub(crate) fn check_arm(
    namespace: &str,
    resource_type: &str,
    location: &str,
    version: &str,
) -> Result<(), Reply> {
    let Some(list) = supported(namespace, resource_type) else {
        return Ok(());
    };
    if listed(list, version) {
        return Ok(());
    }
    if namespace.eq_ignore_ascii_case("Microsoft.Resources") {
        return Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{version}' is invalid. The supported versions are '{}'.",
                list.join(",")
            ),
        ));
    }
    // An operation-status URL is typed by its resource type's last part in ARM's message.
    let shown = resource_type
        .rsplit_once("locations/")
        .map_or(resource_type, |_| resource_type);
    Err(Reply::arm_error(
        StatusCode::BAD_REQUEST,
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location '{}' and API version '{version}' for type '{shown}'. The supported api-versions are '{}'. The supported locations are '{LOCATIONS}'.",
            crate::arm::region::normalize(location),
            list.join(", ")
        ),
    ))
}

/// Key Vault's check of `api-version`.
pub(crate) fn check_key_vault(version: &str) -> Result<(), Reply> {
    if listed(KEY_VAULT, version) {
        return Ok(());
    }
    let latest = KEY_VAULT.last().copied().unwrap_or_default();
    let mut r = Reply::json(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": {"code": "BadParameter", "message": format!("The specified version ({version}) is not recognized. Consider using the latest supported version ({latest}).")}}),
    );
    r.error_code = Some("BadParameter".to_owned());
    Err(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handlers_and_the_pinned_clients_versions_are_accepted() {
        for (ns, t, v) in [
            ("Microsoft.Compute", "virtualMachines", "2025-04-01"),
            ("Microsoft.Compute", "virtualMachines", "2026-04-01"),
            (
                "Microsoft.Compute",
                "galleries/images/versions",
                "2025-03-03",
            ),
            (
                "Microsoft.Compute",
                "locations/sharedGalleries",
                "2026-03-03",
            ),
            ("Microsoft.Compute", "disks", "2026-03-02"),
            (
                "Microsoft.Compute",
                "virtualMachineScaleSets/virtualMachines",
                "2025-04-01",
            ),
            (
                "Microsoft.Compute",
                "virtualMachineScaleSets/rollingUpgrades",
                "2024-07-01",
            ),
            ("Microsoft.Network", "networkInterfaces", "2024-05-01"),
            ("Microsoft.Resources", "resourceGroups", "2024-03-01"),
            ("Microsoft.Resources", "resourceGroups", "2025-04-01"),
        ] {
            assert!(check_arm(ns, t, "westus", v).is_ok(), "{ns}/{t} {v}");
        }
        assert!(check_key_vault("7.4").is_ok());
    }

    #[test]
    fn scale_set_types_start_with_their_first_versions() {
        assert_eq!(SCALE_SETS.first(), Some(&"2015-06-15"));
        assert_eq!(SCALE_SET_ADDONS.first(), Some(&"2017-03-30"));
        assert_eq!(SCALE_SETS.last(), COMPUTE.last());
        let ok = |t: &str, v: &str| check_arm("Microsoft.Compute", t, "westus", v).is_ok();
        assert!(ok("virtualMachineScaleSets", "2015-06-15"));
        assert!(!ok("virtualMachineScaleSets", "2015-05-01-preview"));
        assert!(ok("virtualMachineScaleSets/manualupgrade", "2016-03-30"));
        assert!(!ok("virtualMachineScaleSets/rollingUpgrades", "2016-03-30"));
        assert!(!ok(
            "virtualMachineScaleSets/osRollingUpgrade",
            "2016-08-30"
        ));
        assert!(!ok(
            "virtualMachineScaleSets/virtualMachines/extensions",
            "2016-08-30"
        ));
        assert!(ok("virtualMachineScaleSets/extensions", "2017-03-30"));
    }

    #[test]
    fn unknown_versions_get_arms_codes() {
        let r = check_arm(
            "Microsoft.Compute",
            "virtualMachines",
            "West US",
            "1999-01-01",
        )
        .unwrap_err();
        assert_eq!(r.error_code.as_deref(), Some("NoRegisteredProviderFound"));
        let m = r.body["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("No registered resource provider found for location 'westus' and API version '1999-01-01' for type 'virtualMachines'. The supported api-versions are '2015-05-01-preview, "), "{m}");
        let r = check_arm("Microsoft.Resources", "resourceGroups", "", "1999-01-01").unwrap_err();
        assert_eq!(r.error_code.as_deref(), Some("InvalidApiVersionParameter"));
        assert_eq!(
            check_key_vault("1999-01-01").unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
