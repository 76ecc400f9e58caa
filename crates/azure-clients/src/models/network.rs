//! `Microsoft.Network`: virtual network with subnet, public IP, NSG, NIC (2025-05-01 shapes).

use super::common::{MaybeEmpty, ProvisioningState, SubResource};
use serde::{Deserialize, Serialize};

/// A virtual network.
pub type VirtualNetwork = super::TrackedResource<VirtualNetworkProperties>;

/// `VirtualNetworkPropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VirtualNetworkProperties {
    /// Address space.
    pub address_space: AddressSpace,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `AddressSpace`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AddressSpace {
    /// CIDR prefixes.
    pub address_prefixes: Vec<String>,
}

/// A subnet.
pub type Subnet = super::ChildResource<SubnetProperties>;

/// `SubnetPropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubnetProperties {
    /// CIDR prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<String>,
    /// NSG on the subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl VirtualNetwork {
    /// A VNet with one subnet, e.g. `("192.168.0.0/16", "mySubnet", "192.168.1.0/24")` as
    /// `az vm create` does.
    pub fn with_subnet(
        location: impl Into<String>,
        address_prefix: impl Into<String>,
        subnet_name: impl Into<String>,
        subnet_prefix: impl Into<String>,
    ) -> Self {
        Self {
            location: location.into(),
            properties: VirtualNetworkProperties {
                address_space: AddressSpace {
                    address_prefixes: vec![address_prefix.into()],
                },
                subnets: vec![Subnet {
                    name: subnet_name.into(),
                    properties: SubnetProperties {
                        address_prefix: Some(subnet_prefix.into()),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                provisioning_state: None,
            },
            ..Default::default()
        }
    }

    /// The subnet called `name`.
    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.properties
            .subnets
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }
}

/// A public IP address (`sku` and `zones` on the envelope; `properties` omitted from a body when
/// empty: the defaults are Basic/Dynamic).
pub type PublicIpAddress = super::TrackedResource<PublicIpAddressProperties>;

/// `PublicIPAddressSku`.
pub type PublicIpSku = super::Sku;

/// `PublicIPAddressPropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct PublicIpAddressProperties {
    /// `Static` or `Dynamic`.
    #[serde(
        rename = "publicIPAllocationMethod",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_ip_allocation_method: Option<String>,
    /// `IPv4` or `IPv6`.
    #[serde(
        rename = "publicIPAddressVersion",
        skip_serializing_if = "Option::is_none"
    )]
    pub public_ip_address_version: Option<String>,
    /// The address (read-only).
    #[serde(rename = "ipAddress", skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Provisioning state (read-only).
    #[serde(rename = "provisioningState", skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl MaybeEmpty for PublicIpAddressProperties {
    fn is_empty(&self) -> bool {
        self.public_ip_allocation_method.is_none()
            && self.public_ip_address_version.is_none()
            && self.ip_address.is_none()
            && self.provisioning_state.is_none()
    }
}

impl PublicIpAddress {
    /// A Standard, static IPv4 address (what `az vm create` makes).
    pub fn standard_static(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            sku: Some(PublicIpSku {
                name: "Standard".into(),
                tier: None,
            }),
            properties: PublicIpAddressProperties {
                public_ip_allocation_method: Some("Static".into()),
                public_ip_address_version: Some("IPv4".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// A network security group.
pub type NetworkSecurityGroup = super::TrackedResource<NetworkSecurityGroupProperties>;

/// `NetworkSecurityGroupPropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkSecurityGroupProperties {
    /// User rules.
    pub security_rules: Vec<SecurityRule>,
    /// Default rules (read-only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_security_rules: Vec<SecurityRule>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

/// A security rule.
pub type SecurityRule = super::ChildResource<SecurityRuleProperties>;

/// `SecurityRulePropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityRuleProperties {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Tcp`, `Udp`, `*`, ...
    pub protocol: String,
    /// Source port range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_port_range: Option<String>,
    /// Destination port range, e.g. `22`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port_range: Option<String>,
    /// Source prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_address_prefix: Option<String>,
    /// Source prefixes (instead of one `sourceAddressPrefix`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub source_address_prefixes: Vec<String>,
    /// Destination prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_address_prefix: Option<String>,
    /// `Allow` or `Deny`.
    pub access: String,
    /// 100..4096.
    pub priority: i32,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl NetworkSecurityGroup {
    /// An NSG with one rule allowing inbound TCP to `port` from anywhere (SSH 22 or RDP 3389,
    /// as `az vm create` does).
    pub fn allow_inbound_tcp(
        location: impl Into<String>,
        rule_name: impl Into<String>,
        port: u16,
        priority: i32,
    ) -> Self {
        Self::allow_inbound_tcp_from(location, rule_name, port, priority, &["*".to_owned()])
    }

    /// An NSG allowing inbound TCP to `port` only from `sources` (CIDR prefixes or addresses;
    /// `*` means anywhere): one rule with `sourceAddressPrefix` for one source,
    /// `sourceAddressPrefixes` for several, and no rule at all for none.
    pub fn allow_inbound_tcp_from(
        location: impl Into<String>,
        rule_name: impl Into<String>,
        port: u16,
        priority: i32,
        sources: &[String],
    ) -> Self {
        let (single, several) = if sources.iter().any(|p| p == "*") {
            (Some("*".to_owned()), Vec::new())
        } else if let [one] = sources {
            (Some(one.clone()), Vec::new())
        } else {
            (None, sources.to_vec())
        };
        let rule = SecurityRule {
            name: rule_name.into(),
            properties: SecurityRuleProperties {
                protocol: "Tcp".into(),
                source_port_range: Some("*".into()),
                destination_port_range: Some(port.to_string()),
                source_address_prefix: single,
                source_address_prefixes: several,
                destination_address_prefix: Some("*".into()),
                access: "Allow".into(),
                priority,
                direction: "Inbound".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        Self {
            location: location.into(),
            properties: NetworkSecurityGroupProperties {
                security_rules: if sources.is_empty() {
                    Vec::new()
                } else {
                    vec![rule]
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

/// A network interface.
pub type NetworkInterface = super::TrackedResource<NetworkInterfaceProperties>;

/// `NetworkInterfacePropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkInterfaceProperties {
    /// IP configurations.
    pub ip_configurations: Vec<IpConfiguration>,
    /// NSG on the NIC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<SubResource>,
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

/// `NetworkInterfaceIPConfiguration`.
pub type IpConfiguration = super::ChildResource<IpConfigurationProperties>;

/// `NetworkInterfaceIPConfigurationPropertiesFormat`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IpConfigurationProperties {
    /// The subnet.
    #[serde(rename = "subnet", skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubResource>,
    /// The public IP.
    #[serde(rename = "publicIPAddress", skip_serializing_if = "Option::is_none")]
    pub public_ip_address: Option<SubResource>,
    /// `Dynamic` or `Static`.
    #[serde(
        rename = "privateIPAllocationMethod",
        skip_serializing_if = "Option::is_none"
    )]
    pub private_ip_allocation_method: Option<String>,
    /// The private address (read-only unless static).
    #[serde(rename = "privateIPAddress", skip_serializing_if = "Option::is_none")]
    pub private_ip_address: Option<String>,
    /// Primary configuration.
    #[serde(rename = "primary", skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Provisioning state (read-only).
    #[serde(rename = "provisioningState", skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<ProvisioningState>,
}

impl NetworkInterface {
    /// A NIC in `subnet_id` with an optional public IP and NSG.
    pub fn new(
        location: impl Into<String>,
        subnet_id: impl Into<String>,
        public_ip_id: Option<String>,
        nsg_id: Option<String>,
    ) -> Self {
        Self {
            location: location.into(),
            properties: NetworkInterfaceProperties {
                ip_configurations: vec![IpConfiguration {
                    name: "ipconfig1".into(),
                    properties: IpConfigurationProperties {
                        subnet: Some(SubResource::new(subnet_id)),
                        public_ip_address: public_ip_id.map(SubResource::new),
                        private_ip_allocation_method: Some("Dynamic".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                }],
                network_security_group: nsg_id.map(SubResource::new),
                provisioning_state: None,
            },
            ..Default::default()
        }
    }
}

impl MaybeEmpty for VirtualNetworkProperties {}

impl MaybeEmpty for NetworkSecurityGroupProperties {}

impl MaybeEmpty for NetworkInterfaceProperties {}
