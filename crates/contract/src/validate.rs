//! Validation of a [`DeploymentRequest`]: every problem, each with its JSON path.
//!
//! Two passes: [`DeploymentRequest::validate`] checks what the request alone can tell;
//! [`DeploymentRequest::validate_for_image`] checks what depends on the image definition (OS type,
//! generalized or specialized), which the handler reads from the gallery.
//! Rules cite ComputeRP 2025-04-01 `OSProfile` (computeRPCommon.json: `computerName`,
//! `adminUsername` disallowed values and lengths) and the Azure resource naming rules.

use crate::image_id::ImageId;
use crate::request::DeploymentRequest;
use crate::resource_id::ResourceId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// One validation problem: a JSON path into the request and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path, e.g. `vm.sshPublicKey` or `network.allowInboundFrom[1]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// All problems found in a request (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<Problem>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Operating system of an image definition (`properties.osType`, GalleryRP
/// `OperatingSystemTypes`). The one OS type of the project: azure-clients' gallery model reads
/// it (tolerantly, see `azure_clients::models::Tolerant`) and the contract validates with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OsType {
    /// Linux: SSH key authentication, port 22.
    Linux,
    /// Windows: password from Key Vault, port 3389.
    Windows,
}

/// `properties.osState` of an image definition (GalleryRP `OperatingSystemStateTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OsState {
    /// Needs an `osProfile` (computer name, admin account).
    Generalized,
    /// Must be created without an `osProfile`.
    Specialized,
}

/// An ARM enum value this crate's closed enums do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

macro_rules! arm_enum_text {
    ($ty:ident { $($variant:ident = $text:literal),+ }) => {
        impl $ty {
            /// The value as ARM spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Case-insensitive, as ARM compares enum values.
        impl std::str::FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                $(if s.eq_ignore_ascii_case($text) { return Ok($ty::$variant); })+
                Err(UnknownValue(s.to_owned()))
            }
        }
    };
}

arm_enum_text!(OsType { Linux = "Linux", Windows = "Windows" });
arm_enum_text!(OsState { Generalized = "Generalized", Specialized = "Specialized" });

/// What the image definition says about the VM to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    /// OS type.
    pub os_type: OsType,
    /// Generalized or specialized.
    pub os_state: OsState,
    /// The definition's `SecurityType` feature asks for Trusted Launch.
    pub trusted_launch: bool,
}

/// Admin user names Azure refuses (computeRPCommon.json `OSProfile.adminUsername`).
const DISALLOWED_ADMIN_NAMES: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test2",
    "test3",
    "user4",
    "user5",
];

/// Longest VM name: `{name}-vnet` must fit the 64-character VNet name limit.
pub const MAX_VM_NAME: usize = 59;
/// Windows computer names are at most 15 characters (see [`crate::os_profile::computer_name`]).
pub const MAX_WINDOWS_VM_NAME: usize = crate::os_profile::MAX_WINDOWS_COMPUTER_NAME;
/// Azure allows 50 tags per resource; one is imageferry's.
pub const MAX_USER_TAGS: usize = 49;

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn finish<T>(self, ok: T) -> Result<T, ValidationErrors> {
        if self.0.is_empty() {
            Ok(ok)
        } else {
            Err(ValidationErrors(self.0))
        }
    }
}

impl DeploymentRequest {
    /// Checks everything that does not depend on the image definition. Returns the parsed image id.
    pub fn validate(&self) -> Result<ImageId, ValidationErrors> {
        let mut p = Problems::default();
        if !is_deployment_id(&self.deployment_id) {
            p.add(
                "deploymentId",
                if self.deployment_id.is_empty() {
                    "required: 1-40 characters of [a-z0-9-]".to_string()
                } else {
                    format!(
                        "{:?} must be 1-40 characters of [a-z0-9-]",
                        self.deployment_id
                    )
                },
            );
        }

        let image = if self.image.id.is_empty() {
            p.add("image.id", "required");
            None
        } else {
            match ImageId::parse(&self.image.id) {
                Ok(id) => Some(id),
                Err(e) => {
                    p.add("image.id", e.to_string());
                    None
                }
            }
        };
        match (&image, &self.image.tenant_id) {
            (Some(ImageId::Gallery { .. }), None) => p.add(
                "image.tenantId",
                "required for a gallery resource id (the tenant that owns the gallery)",
            ),
            (_, Some(t)) if !is_guid(t) => p.add("image.tenantId", "must be a tenant id (GUID)"),
            _ => {}
        }

        let t = &self.target;
        if !is_guid(&t.tenant_id) {
            p.add(
                "target.tenantId",
                required_or("must be a tenant id (GUID)", &t.tenant_id),
            );
        }
        if !is_guid(&t.subscription_id) {
            p.add(
                "target.subscriptionId",
                required_or("must be a subscription id (GUID)", &t.subscription_id),
            );
        }
        if !is_resource_group_name(&t.resource_group) {
            p.add(
                "target.resourceGroup",
                required_or(
                    "must be 1-90 characters of letters, digits, '_', '-', '.', '(' or ')' and not end with '.'",
                    &t.resource_group,
                ),
            );
        }
        if t.location.is_empty()
            || t.location.len() > 64
            || !t
                .location
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == ' ')
        {
            p.add(
                "target.location",
                required_or(
                    "must be an Azure region name such as southcentralus",
                    &t.location,
                ),
            );
        }

        let vm = &*self.machine();
        let at = self.machine_path();
        if let Some(scale_set) = &self.scale_set {
            if !self.vm.is_unset() {
                p.add(
                    "vm",
                    "give either vm (one VM) or scaleSet (a scale set), not both",
                );
            }
            for (field, message) in scale_set.problems() {
                p.add(format!("scaleSet.{field}"), message);
            }
        }
        if !is_vm_name(&vm.name) {
            p.add(
                format!("{at}.name"),
                required_or(
                    "must be 1-59 characters of letters, digits, '-', '_' or '.', start with a letter or digit and not end with '-' or '.'",
                    &vm.name,
                ),
            );
        }
        if vm.size.trim().is_empty() {
            p.add(format!("{at}.size"), "required, e.g. Standard_D2s_v5");
        } else if !vm
            .size
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            p.add(
                format!("{at}.size"),
                "must be a VM size name such as Standard_D2s_v5",
            );
        }
        if let Some(user) = &vm.admin_username {
            if user.is_empty() || user.len() > 64 {
                p.add(format!("{at}.adminUsername"), "must be 1-64 characters");
            } else if DISALLOWED_ADMIN_NAMES.contains(&user.to_ascii_lowercase().as_str()) {
                p.add(
                    format!("{at}.adminUsername"),
                    format!(
                        "{user:?} is a name Azure does not allow for the administrator account"
                    ),
                );
            }
        }
        if let Some(key) = &vm.ssh_public_key
            && let Err(why) = check_ssh_key(key)
        {
            p.add(format!("{at}.sshPublicKey"), why);
        }
        if let Some(secret) = &vm.admin_password_secret_id
            && let Err(why) = crate::SecretId::parse(secret)
        {
            p.add(format!("{at}.adminPasswordSecretId"), why.to_string());
        }
        if vm.tags.len() > MAX_USER_TAGS {
            p.add(
                format!("{at}.tags"),
                format!("at most {MAX_USER_TAGS} tags"),
            );
        }
        for (k, v) in &vm.tags {
            let path = format!("{at}.tags.{k}");
            if k.eq_ignore_ascii_case(crate::DEPLOYMENT_TAG) {
                p.add(
                    path,
                    "reserved: imageferry sets this tag to the deployment id",
                );
            } else if k.is_empty()
                || k.chars().count() > 512
                || k.contains(['<', '>', '%', '&', '\\', '?', '/'])
            {
                p.add(
                    path,
                    "tag names are 1-512 characters without < > % & \\ ? /",
                );
            } else if v.chars().count() > 256 {
                p.add(path, "tag values are at most 256 characters");
            }
        }

        if let Some(subnet) = &self.network.subnet_id {
            match subnet_id(subnet) {
                Err(why) => p.add("network.subnetId", why),
                Ok(id)
                    if !id
                        .subscription_id()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&t.subscription_id)) =>
                {
                    p.add(
                        "network.subnetId",
                        "must be in the target subscription (a NIC and its subnet share a subscription)",
                    )
                }
                Ok(_) => {}
            }
        }
        for (i, prefix) in self.network.allow_inbound_from.iter().enumerate() {
            if let Err(why) = check_source_prefix(prefix) {
                p.add(format!("network.allowInboundFrom[{i}]"), why);
            }
        }

        match image {
            Some(id) => p.finish(id),
            None => Err(ValidationErrors(p.0)),
        }
    }

    /// Checks what depends on the image definition: the admin account for generalized images,
    /// the absence of any OS profile for specialized ones, and Windows name limits.
    pub fn validate_for_image(&self, facts: &ImageFacts) -> Result<(), ValidationErrors> {
        let mut p = Problems::default();
        let vm = &*self.machine();
        let at = self.machine_path();
        match facts.os_state {
            OsState::Specialized => {
                for (field, set) in [
                    ("adminUsername", vm.admin_username.is_some()),
                    ("sshPublicKey", vm.ssh_public_key.is_some()),
                    (
                        "adminPasswordSecretId",
                        vm.admin_password_secret_id.is_some(),
                    ),
                ] {
                    if set {
                        p.add(
                            format!("{at}.{field}"),
                            "not allowed for a specialized image: the VM keeps the image's accounts and is created without an OS profile",
                        );
                    }
                }
            }
            OsState::Generalized => {
                if vm.admin_username.is_none() {
                    p.add(
                        format!("{at}.adminUsername"),
                        "required for a generalized image",
                    );
                }
                match facts.os_type {
                    OsType::Linux => {
                        if vm.ssh_public_key.is_none() {
                            p.add(format!("{at}.sshPublicKey"), "required for a Linux image");
                        }
                        if vm.admin_password_secret_id.is_some() {
                            p.add(
                                format!("{at}.adminPasswordSecretId"),
                                "not used for a Linux image (SSH key authentication only)",
                            );
                        }
                        if let Some(user) = &vm.admin_username
                            && !is_linux_user(user)
                        {
                            p.add(
                                format!("{at}.adminUsername"),
                                "on Linux: letters, digits, '-', '_' and '.', not starting with '-' or a digit",
                            );
                        }
                    }
                    OsType::Windows => {
                        if vm.admin_password_secret_id.is_none() {
                            p.add(
                                format!("{at}.adminPasswordSecretId"),
                                "required for a Windows image (a Key Vault secret id)",
                            );
                        }
                        if vm.ssh_public_key.is_some() {
                            p.add(format!("{at}.sshPublicKey"), "not used for a Windows image");
                        }
                        if let Some(user) = &vm.admin_username
                            && (user.len() > 20
                                || user.ends_with('.')
                                || user.contains([
                                    '\\', '/', '"', '[', ']', ':', '|', '<', '>', '+', '=', ';',
                                    ',', '?', '*', '@', ' ',
                                ]))
                        {
                            p.add(
                                format!("{at}.adminUsername"),
                                "on Windows: at most 20 characters, not ending in '.', without \\ / \" [ ] : | < > + = ; , ? * @ or spaces",
                            );
                        }
                    }
                }
            }
        }
        // Azure's OS-profile rules (crate::os_profile): the computer name derived from the VM
        // name, and the SSH key of a generalized Linux image.
        // (A scale set's fields are the VM's under `scaleSet`; its computer names are a prefix.)
        let mut os_rule = |e: crate::os_profile::OsProfileError| {
            let field = e.field().replacen("vm.", &format!("{at}."), 1);
            p.add(field, format!("{}; fix: {}", e.reason(), e.fix()));
        };
        if self.scale_set.is_some() {
            if let Err(why) =
                crate::scale_set::computer_name_prefix(&vm.name, facts.os_type, facts.os_state)
            {
                os_rule(crate::os_profile::OsProfileError::ComputerName {
                    reason: why,
                    fix: "choose a scaleSet.name with letters in it".into(),
                });
            }
        } else if let Err(e) =
            crate::os_profile::computer_name(&vm.name, facts.os_type, facts.os_state)
        {
            os_rule(e);
        }
        if (facts.os_type, facts.os_state) == (OsType::Linux, OsState::Generalized)
            && let Some(key) = &vm.ssh_public_key
            && let Err(e) = crate::os_profile::check_ssh_public_key(key)
        {
            os_rule(e);
        }
        p.finish(())
    }
}

fn required_or(rule: &str, value: &str) -> String {
    if value.is_empty() {
        "required".to_string()
    } else {
        rule.to_string()
    }
}

/// `^[a-z0-9-]{1,40}$`.
pub fn is_deployment_id(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A GUID in the 8-4-4-4-12 hex form (a tenant, subscription or client id): the one GUID check
/// of the project.
pub fn is_guid(s: &str) -> bool {
    // 36 characters is `uuid`'s hyphenated form (it also reads the simple, braced and URN forms).
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

fn is_resource_group_name(s: &str) -> bool {
    (1..=90).contains(&s.chars().count())
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'))
}

fn is_vm_name(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    s.len() <= MAX_VM_NAME
        && first.is_ascii_alphanumeric()
        && !s.ends_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_linux_user(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Key types Azure accepts for Linux VMs (the key itself is checked against the image:
/// [`crate::os_profile::check_ssh_public_key`]).
const SSH_KEY_TYPES: &[&str] = &["ssh-rsa", "ssh-ed25519"];

fn check_ssh_key(key: &str) -> Result<(), String> {
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    if !SSH_KEY_TYPES.contains(&kind) {
        return Err(match crate::os_profile::check_ssh_public_key(key) {
            Err(e) if kind.starts_with("ecdsa-") || kind.starts_with("sk-") => {
                format!("{}; fix: {}", e.reason(), e.fix())
            }
            _ => format!(
                "must be an OpenSSH public key starting with one of {}",
                SSH_KEY_TYPES.join(", ")
            ),
        });
    }
    let base64ish = data
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if data.len() < 16 || !base64ish {
        return Err("the key data after the key type is missing or not base64".into());
    }
    Ok(())
}

/// The shape of a subnet id: `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{v}/subnets/{n}`,
/// every segment checked by [`ResourceId`].
pub fn subnet_id(id: &str) -> Result<ResourceId, String> {
    const SHAPE: &str = "must be /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}";
    let parsed = ResourceId::parse(id).map_err(|e| format!("{SHAPE}: {e}"))?;
    let kinds: Vec<String> = parsed.kinds().map(str::to_ascii_lowercase).collect();
    let shape_ok = kinds
        == [
            "subscriptions",
            "resourcegroups",
            "providers",
            "virtualnetworks",
            "subnets",
        ]
        && parsed
            .get("providers")
            .is_some_and(|p| p.eq_ignore_ascii_case("Microsoft.Network"));
    if shape_ok {
        Ok(parsed)
    } else {
        Err(SHAPE.into())
    }
}

/// `*`, a single IP address, or a CIDR block whose host bits are zero.
pub fn check_source_prefix(prefix: &str) -> Result<(), String> {
    if prefix == "*" {
        return Ok(());
    }
    let (addr, len) = match prefix.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (prefix, None),
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("{prefix:?} is not a CIDR block, an IP address or '*'"))?;
    let Some(len) = len else { return Ok(()) };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("{prefix:?}: prefix length must be 0-{max}"))?;
    let canonical = mask(ip, len);
    if canonical != ip {
        return Err(format!(
            "{prefix:?} has host bits set; did you mean {canonical}/{len}?"
        ));
    }
    Ok(())
}

fn mask(ip: IpAddr, len: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_guid;

    #[test]
    fn guids_are_the_hyphenated_form_only() {
        assert!(is_guid("bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"));
        assert!(is_guid("0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9"));
        for bad in [
            "",
            "bbbbbbbbbbbb4bbb8bbbbbbbbbbbbbbb",
            "{bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb}",
            "urn:uuid:bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbg",
            "bbbbbbbbb-bbb-4bbb-8bbb-bbbbbbbbbbbb",
            "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb ",
        ] {
            assert!(!is_guid(bad), "{bad:?}");
        }
    }
}
