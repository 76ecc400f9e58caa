//! Shared model pieces: tolerant string enums, sub-resource ids, regions, provisioning state.

use serde::{Deserialize, Serialize};

/// Declares a string enum that keeps unknown values (`Other`) and matches case-insensitively.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as ARM spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case($text) { return Self::$variant; })+
                Self::Other(s.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

string_enum! {
    /// `provisioningState` of ARM resources (Compute, Network, Resources and galleries).
    ProvisioningState {
        /// `Creating`.
        Creating = "Creating",
        /// `Updating`.
        Updating = "Updating",
        /// `Succeeded`.
        Succeeded = "Succeeded",
        /// `Failed`.
        Failed = "Failed",
        /// `Deleting`.
        Deleting = "Deleting",
        /// `Migrating` (galleries).
        Migrating = "Migrating",
        /// `Canceled`.
        Canceled = "Canceled",
    }
}

impl ProvisioningState {
    /// `Succeeded`, `Failed` or `Canceled`.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

/// A value of a closed enum defined in the contract (`OsType`, `OsState`), read tolerantly: a
/// value the enum does not know is kept verbatim instead of failing the whole resource, and the
/// caller decides what an unknown value means. Matching is case-insensitive (the enum's
/// `FromStr`); serialized as ARM spells the value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tolerant<T> {
    /// A value the enum knows.
    Known(T),
    /// Any other value, verbatim.
    Other(String),
}

impl<T: Copy> Tolerant<T> {
    /// The known value, or the unknown text.
    pub fn known(&self) -> Result<T, &str> {
        match self {
            Tolerant::Known(t) => Ok(*t),
            Tolerant::Other(s) => Err(s),
        }
    }
}

impl<T: std::fmt::Display> std::fmt::Display for Tolerant<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tolerant::Known(t) => t.fmt(f),
            Tolerant::Other(s) => f.write_str(s),
        }
    }
}

impl<T> From<T> for Tolerant<T> {
    fn from(t: T) -> Self {
        Tolerant::Known(t)
    }
}

impl<T: std::fmt::Display> Serialize for Tolerant<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, T: std::str::FromStr> Deserialize<'de> for Tolerant<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().map(Tolerant::Known).unwrap_or(Tolerant::Other(s)))
    }
}

/// A reference to another resource by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubResource {
    /// The resource id.
    #[serde(default)]
    pub id: String,
}

impl SubResource {
    /// A reference to `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

/// A region's programmatic name: display names such as "West US 2" become `westus2`.
pub fn normalize_region(region: &str) -> String {
    region
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether two region names denote the same region (`"West US 2"` == `"westus2"`).
pub fn region_eq(a: &str, b: &str) -> bool {
    normalize_region(a) == normalize_region(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(region_eq("West US 2", "westus2"));
        assert!(region_eq("South Central US", "southcentralus"));
        assert!(region_eq("westus2", "WESTUS2"));
        assert!(!region_eq("West US", "westus2"));
    }

    #[test]
    fn contract_enums_are_read_tolerantly() {
        use imageferry_contract::OsType;
        let t: Tolerant<OsType> = serde_json::from_str("\"linux\"").unwrap();
        assert_eq!(t, Tolerant::Known(OsType::Linux));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"Linux\"");
        let t: Tolerant<OsType> = serde_json::from_str("\"Plan9\"").unwrap();
        assert_eq!(t.known(), Err("Plan9"));
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"Plan9\"");
    }

    #[test]
    fn unknown_enum_values_are_kept() {
        let p: ProvisioningState = serde_json::from_str("\"Provisioning\"").unwrap();
        assert_eq!(p, ProvisioningState::Other("Provisioning".into()));
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"Provisioning\"");
        let p: ProvisioningState = serde_json::from_str("\"succeeded\"").unwrap();
        assert!(p.is_terminal());
    }
}

/// The envelope ARM puts around a tracked resource (`TrackedResource` in the common types):
/// read-only id and name, region, tags, the envelope fields some types use (`plan` on a VM,
/// `sku` and `zones` on a public IP), and the type's `properties` (left out of a body when
/// [`MaybeEmpty::is_empty`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    default,
    bound(
        serialize = "P: Serialize + MaybeEmpty",
        deserialize = "P: Deserialize<'de> + Default"
    )
)]
pub struct TrackedResource<P> {
    /// Resource id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Region.
    pub location: String,
    /// Tags.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tags: std::collections::BTreeMap<String, String>,
    /// The Marketplace plan: set on a virtual machine whose image carries a purchase plan
    /// (ComputeRP `VirtualMachine.plan`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// SKU (public IP: `Basic` or `Standard`, `Regional` or `Global`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    /// Availability zones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Properties.
    #[serde(skip_serializing_if = "MaybeEmpty::is_empty")]
    pub properties: P,
}

/// Properties that a request body may leave out when they say nothing (a resource group or a
/// public IP created with defaults).
pub trait MaybeEmpty {
    /// Whether serializing them can be skipped (by default: never).
    fn is_empty(&self) -> bool {
        false
    }
}

/// A resource SKU (`PublicIPAddressSku` and the like).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Sku {
    /// e.g. `Standard`.
    pub name: String,
    /// e.g. `Regional`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// The Marketplace plan a VM is billed under (ComputeRP `Plan`). Required (top level of the VM
/// body) when the image, or the image a gallery image was built from, has a purchase plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Plan {
    /// The plan id.
    pub name: String,
    /// The publisher id.
    pub publisher: String,
    /// The product (the Marketplace offer).
    pub product: String,
    /// Promotion code, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_code: Option<String>,
}

/// The envelope of a child resource inside its parent's body (a subnet, a security rule, an IP
/// configuration): read-only id, name, and the type's `properties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChildResource<P> {
    /// Resource id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, e.g. `default` or `ipconfig1`.
    pub name: String,
    /// Properties.
    pub properties: P,
}

/// Any tracked resource read only for its `provisioningState` (e.g. to see whether a resource a
/// step created earlier is still provisioning).
pub type Provisioned = TrackedResource<ProvisioningOnly>;

/// The `properties.provisioningState` every ARM resource type reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProvisioningOnly {
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl MaybeEmpty for ProvisioningOnly {
    fn is_empty(&self) -> bool {
        self.provisioning_state.is_none()
    }
}
