//! `Microsoft.Authorization`: the caller's effective permissions at a scope (`Permissions - List
//! For Resource Group` / `List For Resource`, `GET {scope}/providers/Microsoft.Authorization/
//! permissions`) and role definitions, with RBAC's action matching. Shapes of
//! reference/arm/examples/authorization/ (GetPermissions.json, GetRoleDefinitionByName.json).
//!
//! Used by `imageferry doctor`/`plan` (are the pipeline's actions granted?) and by the handler's
//! preflight (may the app join an existing subnet, before the first write?).

use imageferry_contract::{ResourceId, ResourceIdError};
use serde::{Deserialize, Serialize};

/// API version of the permissions list and role definitions (stable).
pub const AUTHORIZATION_API: &str = "2022-04-01";

/// `PermissionGetResult`: one [`Permission`] per role the caller holds at the scope or above.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionList {
    /// The permissions.
    pub value: Vec<Permission>,
    /// Next page, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

impl PermissionList {
    /// Whether `action` is granted: some permission's `actions` match it and none of that same
    /// permission's `notActions` do (RBAC's rule: a `notActions` entry removes the action from
    /// its own role only).
    pub fn allows(&self, action: &str) -> bool {
        self.value.iter().any(|p| p.allows(action))
    }

    /// The actions of `wanted` that are not granted, in order.
    pub fn missing<'a>(&self, wanted: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        wanted.into_iter().filter(|a| !self.allows(a)).collect()
    }
}

/// `Permission`: the control-plane and data-plane actions of one role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Permission {
    /// Allowed actions (may contain `*` wildcards).
    pub actions: Vec<String>,
    /// Actions removed from `actions`.
    pub not_actions: Vec<String>,
    /// Allowed data actions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_actions: Vec<String>,
    /// Data actions removed from `data_actions`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_data_actions: Vec<String>,
}

impl Permission {
    /// Whether this permission grants `action` (see [`PermissionList::allows`]).
    pub fn allows(&self, action: &str) -> bool {
        self.actions.iter().any(|a| action_matches(a, action))
            && !self.not_actions.iter().any(|n| action_matches(n, action))
    }
}

/// A role definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleDefinition {
    /// Resource id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The role definition's GUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Microsoft.Authorization/roleDefinitions`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Properties.
    pub properties: RoleDefinitionProperties,
}

/// `RoleDefinitionProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleDefinitionProperties {
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
    /// `BuiltInRole` or `CustomRole`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub role_type: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where it may be assigned.
    pub assignable_scopes: Vec<String>,
    /// Its permissions.
    pub permissions: Vec<Permission>,
}

/// The permissions list of `scope`: `{scope}/providers/Microsoft.Authorization/permissions`,
/// built from checked segments (a subscription, a resource group or any resource).
pub fn permissions_path(scope: &ResourceId) -> Result<String, ResourceIdError> {
    let provider = scope
        .clone()
        .child("providers", "Microsoft.Authorization")?;
    let mut path = String::new();
    for segment in provider.segments().chain(["permissions"]) {
        path.push('/');
        path.push_str(segment);
    }
    Ok(path)
}

/// Whether RBAC `pattern` (with `*` wildcards, case-insensitive) matches `action`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| m(rest, &a[i..])),
            Some((c, rest)) => {
                a.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && m(rest, &a[1..])
            }
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(actions: &[&str], not_actions: &[&str]) -> PermissionList {
        PermissionList {
            value: vec![Permission {
                actions: actions.iter().map(|s| s.to_string()).collect(),
                not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
                ..Permission::default()
            }],
            next_link: None,
        }
    }

    #[test]
    fn wildcards_case_and_not_actions() {
        let contributor = list(&["*"], &["Microsoft.Authorization/*/Write"]);
        assert!(contributor.allows("Microsoft.Network/virtualNetworks/subnets/join/action"));
        assert!(!contributor.allows("Microsoft.Authorization/roleAssignments/write"));
        let reader = list(&["*/read"], &[]);
        assert!(reader.allows("Microsoft.Compute/galleries/images/versions/read"));
        assert!(!reader.allows("Microsoft.Compute/virtualMachines/write"));
        let network = list(&["microsoft.network/*"], &[]);
        assert!(network.allows("Microsoft.Network/networkInterfaces/join/action"));
        assert!(!PermissionList::default().allows("Microsoft.Compute/virtualMachines/read"));
        assert_eq!(
            reader.missing(["a/read", "a/write"]),
            vec!["a/write"],
            "missing keeps order"
        );
    }

    #[test]
    fn permissions_path_is_pushed_onto_the_checked_scope() {
        let rg =
            ResourceId::resource_group("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb", "myRG").unwrap();
        assert_eq!(
            permissions_path(&rg).unwrap(),
            "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myRG/providers/Microsoft.Authorization/permissions"
        );
        let subnet = ResourceId::parse("/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/vms").unwrap();
        assert_eq!(
            permissions_path(&subnet).unwrap(),
            "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/vms/providers/Microsoft.Authorization/permissions"
        );
    }

    #[test]
    fn not_actions_remove_from_their_own_role_only() {
        let mut l = list(&["*"], &["Microsoft.Network/*"]);
        assert!(!l.allows("Microsoft.Network/virtualNetworks/write"));
        l.value.push(Permission {
            actions: vec!["Microsoft.Network/virtualNetworks/write".into()],
            ..Permission::default()
        });
        assert!(l.allows("Microsoft.Network/virtualNetworks/write"));
    }
}
