//! Rules Azure applies to a VM's `osProfile`, checked before the first write so that a request
//! that cannot work is refused with the field and the fix instead of failing at the VM `PUT`
//! after the network exists.
//!
//! Sources:
//! - computer name: ComputeRP `OSProfile.computerName` (reference/arm/schemas/computeRPCommon.json:
//!   max 15 characters on Windows, 64 on Linux) and ARM's messages "Windows computer name cannot
//!   be more than 15 characters long, be entirely numeric, or contain the following characters:
//!   `` ` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \ | ; : . ' " , < > / ? ``" / "Linux host name cannot
//!   exceed 64 characters in length or contain the following characters: ...". Like
//!   `az vm create`, the computer name is derived from the VM name; characters outside letters,
//!   digits and `-` (valid in a VM name, e.g. `_` and `.`) are dropped. Specialized images keep
//!   the image's computer name: there is none to derive.
//! - SSH keys: RSA of at least 2048 bits or Ed25519 (learn.microsoft.com/azure/virtual-machines/
//!   linux/mac-create-ssh-keys, "Supported SSH key formats"); ECDSA keys are refused by Azure.
//!   The key blob is the RFC 4253 §6.6 wire form (RFC 8709 for Ed25519).
//! - Windows password: `OSProfile.adminPassword` in computeRPCommon.json: 8–123 characters,
//!   3 of lower case, upper case, digit, special character (`[\W_]`), no control characters,
//!   not one of the listed disallowed values.

use crate::validate::{OsState, OsType};
use base64::Engine;

/// A rule of the OS profile that the request breaks, naming the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsProfileError {
    /// No valid computer name can be derived from `vm.name`.
    #[error("vm.name: {reason}")]
    ComputerName {
        /// What is wrong.
        reason: String,
        /// What to do.
        fix: String,
    },
    /// `vm.sshPublicKey` is not a key Azure accepts.
    #[error(
        "vm.sshPublicKey: {reason}; fix: use an RSA key of at least 2048 bits (ssh-keygen -t rsa -b 4096) or an Ed25519 key (ssh-keygen -t ed25519)"
    )]
    SshKey {
        /// What is wrong.
        reason: String,
    },
    /// The password read from `vm.adminPasswordSecretId` breaks Azure's rules (the message
    /// never contains the password).
    #[error(
        "vm.adminPasswordSecretId: the secret's value {reason}; fix: store a password of 8 to 123 characters with at least 3 of lower case, upper case, digits and special characters, not a well-known one, in the Key Vault secret"
    )]
    Password {
        /// What is wrong.
        reason: String,
    },
}

impl OsProfileError {
    /// What is wrong (without the field name).
    pub fn reason(&self) -> &str {
        match self {
            Self::ComputerName { reason, .. }
            | Self::SshKey { reason }
            | Self::Password { reason } => reason,
        }
    }

    /// How to fix it.
    pub fn fix(&self) -> String {
        match self {
            Self::ComputerName { fix, .. } => fix.clone(),
            Self::SshKey { .. } => "use an RSA key of at least 2048 bits (ssh-keygen -t rsa -b 4096) or an Ed25519 key (ssh-keygen -t ed25519)".into(),
            Self::Password { .. } => "store a password of 8 to 123 characters with at least 3 of lower case, upper case, digits and special characters, not a well-known one, in the Key Vault secret".into(),
        }
    }

    /// The JSON path of the field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ComputerName { .. } => "vm.name",
            Self::SshKey { .. } => "vm.sshPublicKey",
            Self::Password { .. } => "vm.adminPasswordSecretId",
        }
    }
}

/// Longest Windows computer name.
pub const MAX_WINDOWS_COMPUTER_NAME: usize = 15;
/// Longest Linux host name.
pub const MAX_LINUX_COMPUTER_NAME: usize = 64;

/// The computer name of a VM called `vm_name` created from an image of `os_type` and `os_state`:
/// `None` for a specialized image (no `osProfile`), else the VM name without characters other
/// than ASCII letters, digits and `-` (leading and trailing `-` dropped too), which must then be
/// non-empty, not only digits and at most 15 (Windows) or 64 (Linux) characters long.
pub fn computer_name(
    vm_name: &str,
    os_type: OsType,
    os_state: OsState,
) -> Result<Option<String>, OsProfileError> {
    if os_state == OsState::Specialized {
        return Ok(None);
    }
    let derived: String = vm_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let derived = derived.trim_matches('-').to_string();
    let (os, max) = match os_type {
        OsType::Windows => ("Windows", MAX_WINDOWS_COMPUTER_NAME),
        OsType::Linux => ("Linux", MAX_LINUX_COMPUTER_NAME),
    };
    let shown = if derived == vm_name {
        format!("{vm_name:?}")
    } else {
        format!("{derived:?} (derived from {vm_name:?})")
    };
    let refuse = |reason: String| OsProfileError::ComputerName {
        reason,
        fix: format!(
            "choose a vm.name whose letters, digits and '-' make a {os} computer name of 1 to {max} characters that is not only digits"
        ),
    };
    if derived.is_empty() {
        return Err(refuse(format!(
            "{vm_name:?} has no letters or digits left for the {os} computer name"
        )));
    }
    if derived.chars().all(|c| c.is_ascii_digit()) {
        return Err(refuse(format!(
            "the {os} computer name {shown} would be only digits"
        )));
    }
    if derived.len() > max {
        return Err(refuse(format!(
            "the {os} computer name {shown} has {} characters; {os} allows at most {max}",
            derived.len()
        )));
    }
    Ok(Some(derived))
}

/// The kind of an accepted SSH public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshKeyKind {
    /// `ssh-rsa` with the modulus size in bits.
    Rsa(usize),
    /// `ssh-ed25519`.
    Ed25519,
}

/// Smallest RSA modulus Azure accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// Checks an OpenSSH public key line (`type base64 [comment]`): the blob is decoded and parsed;
/// RSA needs a modulus of at least 2048 bits, Ed25519 a 32-byte key; ECDSA and every other type
/// is refused with the reason.
pub fn check_ssh_public_key(key: &str) -> Result<SshKeyKind, OsProfileError> {
    let refuse = |reason: &str| OsProfileError::SshKey {
        reason: reason.to_string(),
    };
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let data = parts.next().unwrap_or_default();
    if kind.starts_with("ecdsa-sha2-") || kind.starts_with("sk-") {
        return Err(refuse(&format!(
            "{kind} keys are not supported by Azure for Linux VMs"
        )));
    }
    if kind != "ssh-rsa" && kind != "ssh-ed25519" {
        return Err(refuse(&format!(
            "{kind:?} is not an OpenSSH public key type Azure accepts (ssh-rsa, ssh-ed25519)"
        )));
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| refuse("the key data after the key type is not base64"))?;
    let mut wire = Wire(&blob);
    let inner = wire
        .string()
        .ok_or_else(|| refuse("the key data is truncated"))?;
    if inner != kind.as_bytes() {
        return Err(refuse(&format!(
            "the key data is a {:?} key, not {kind}",
            String::from_utf8_lossy(inner)
        )));
    }
    let result = if kind == "ssh-rsa" {
        let _exponent = wire.string();
        let modulus = wire
            .string()
            .ok_or_else(|| refuse("the RSA key data is truncated"))?;
        let bits = mpint_bits(modulus);
        if bits < MIN_RSA_BITS {
            return Err(refuse(&format!(
                "the RSA key has {bits} bits; Azure needs at least {MIN_RSA_BITS}"
            )));
        }
        SshKeyKind::Rsa(bits)
    } else {
        match wire.string() {
            Some(k) if k.len() == 32 => SshKeyKind::Ed25519,
            _ => return Err(refuse("the Ed25519 key data is not a 32-byte key")),
        }
    };
    if !wire.0.is_empty() {
        return Err(refuse("the key data has trailing bytes"));
    }
    Ok(result)
}

/// RFC 4251 §5 `string` reader.
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let (s, rest) = rest.split_at(len);
        self.0 = rest;
        Some(s)
    }
}

/// Bit length of a non-negative RFC 4251 `mpint`.
fn mpint_bits(m: &[u8]) -> usize {
    let m = match m.iter().position(|b| *b != 0) {
        Some(i) => &m[i..],
        None => return 0,
    };
    m.len() * 8 - m[0].leading_zeros() as usize
}

/// Values ComputeRP refuses as administrator passwords (`OSProfile.adminPassword`).
pub const DISALLOWED_PASSWORDS: &[&str] = &[
    "abc@123",
    "P@$$w0rd",
    "P@ssw0rd",
    "P@ssword123",
    "Pa$$word",
    "pass@word1",
    "Password!",
    "Password1",
    "Password22",
    "iloveyou!",
];

/// Checks a Windows administrator password against ComputeRP's rules. The error never contains
/// the password.
pub fn check_windows_password(password: &str) -> Result<(), OsProfileError> {
    let refuse = |reason: &str| OsProfileError::Password {
        reason: reason.to_string(),
    };
    let len = password.chars().count();
    if !(8..=123).contains(&len) {
        return Err(refuse(&format!(
            "has {len} characters; Windows needs 8 to 123"
        )));
    }
    if password.chars().any(char::is_control) {
        return Err(refuse("contains control characters"));
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric() || c == '_'),
    ];
    let met = classes.iter().filter(|m| **m).count();
    if met < 3 {
        return Err(refuse(&format!(
            "meets {met} of the 4 character classes (lower case, upper case, digit, special character); Azure needs 3"
        )));
    }
    if DISALLOWED_PASSWORDS.contains(&password) {
        return Err(refuse("is on Azure's list of disallowed passwords"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_bit_lengths() {
        assert_eq!(mpint_bits(&[0x00, 0x80]), 8);
        assert_eq!(mpint_bits(&[0x01, 0x00]), 9);
        assert_eq!(mpint_bits(&[0, 0]), 0);
    }
}
