//! The Key Vault secret-id rule, once: the shape of `vm.adminPasswordSecretId`
//! (`https://{vault}.vault.azure.net/secrets/{name}[/{version}]`) and whether its host is a vault
//! of a cloud's Key Vault DNS suffix. Which vaults are trusted (`IMAGEFERRY_ALLOWED_VAULTS`, an
//! explicitly configured local stand-in) is decided by whoever reads the secret
//! (`azure_clients::KeyVaultSecrets::check_secret_id`, then the handler's admission).

use std::fmt;
use url::Url;

/// A secret id whose shape is right (not yet trusted: see [`SecretId::is_vault_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretId {
    url: Url,
}

/// Why a text is not a Key Vault secret id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretIdError {
    /// Not a URL with a host and the path `/secrets/{name}[/{version}]`.
    #[error(
        "must be a Key Vault secret id like https://{{vault}}.vault.azure.net/secrets/{{name}}"
    )]
    Shape,
    /// Plain `http` to a host that is not loopback.
    #[error("must use https")]
    NotHttps,
    /// A user, password, query or fragment.
    #[error(
        "must be a Key Vault secret id like https://{{vault}}.vault.azure.net/secrets/{{name}} (no user, query or fragment)"
    )]
    Extras,
    /// `.`/`..`, percent-encoded or `\` segments, which the URL parser would silently rewrite.
    #[error(
        "must be a Key Vault secret id like https://{{vault}}.vault.azure.net/secrets/{{name}} (no '.', '..' or percent-encoded segments)"
    )]
    Navigates,
}

impl SecretId {
    /// Checks the shape: `https` (plain `http` only to a loopback host, which only an explicitly
    /// configured stand-in can then match), no user, query or fragment, no `.`/`..`,
    /// percent-encoded or `\` segments, and the path `/secrets/{name}[/{version}]` with names
    /// of 1-127 letters, digits or `-`.
    pub fn parse(id: &str) -> Result<Self, SecretIdError> {
        let url = Url::parse(id).map_err(|_| SecretIdError::Shape)?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => return Err(SecretIdError::Shape),
        };
        if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
            return Err(SecretIdError::NotHttps);
        }
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(SecretIdError::Extras);
        }
        // The URL parser resolves `.`/`..` (also `%2e`) segments and reads `\` as `/`: refuse
        // them in the text so that an id which navigates is refused rather than rewritten.
        if id.contains("/.") || id.contains(['%', '\\']) {
            return Err(SecretIdError::Navigates);
        }
        let name_ok = |s: &str| {
            (1..=127).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let segments: Vec<&str> = url.path().trim_end_matches('/').split('/').collect();
        let path_ok = match segments.as_slice() {
            ["", "secrets", name] => name_ok(name),
            ["", "secrets", name, version] => name_ok(name) && name_ok(version),
            _ => false,
        };
        if path_ok {
            Ok(SecretId { url })
        } else {
            Err(SecretIdError::Shape)
        }
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The host, lowercase (the vault's DNS name).
    pub fn host(&self) -> String {
        self.url.host_str().unwrap_or_default().to_ascii_lowercase()
    }

    /// Whether the host is a vault of the cloud whose Key Vault DNS suffix is `suffix`
    /// (`.vault.azure.net`): `https`, one DNS label before the suffix, port 443.
    pub fn is_vault_of(&self, suffix: &str) -> bool {
        let host = self.host();
        let suffix = suffix.to_ascii_lowercase();
        self.url.scheme() == "https"
            && self.url.port().is_none_or(|p| p == 443)
            && host
                .strip_suffix(&suffix)
                .is_some_and(|vault| !vault.is_empty() && !vault.contains('.'))
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for (id, want) in [
            ("https://v.vault.azure.net/secrets/pw", Ok(())),
            ("https://v.vault.azure.net/secrets/pw/0123abcd", Ok(())),
            ("http://127.0.0.1:8080/secrets/vm-admin-password", Ok(())),
            ("http://localhost:8080/secrets/pw", Ok(())),
            (
                "http://v.vault.azure.net/secrets/pw",
                Err(SecretIdError::NotHttps),
            ),
            (
                "https://v.vault.azure.net/keys/pw",
                Err(SecretIdError::Shape),
            ),
            (
                "https://v.vault.azure.net/secrets/pw?api-version=7.4",
                Err(SecretIdError::Extras),
            ),
            (
                "https://user@v.vault.azure.net/secrets/pw",
                Err(SecretIdError::Extras),
            ),
            ("not a url", Err(SecretIdError::Shape)),
            (
                "https://v.vault.azure.net/secrets/../keys/k",
                Err(SecretIdError::Navigates),
            ),
            (
                "https://v.vault.azure.net/secrets/%2e%2e/pw",
                Err(SecretIdError::Navigates),
            ),
            (
                "https://v.vault.azure.net/secrets\\pw",
                Err(SecretIdError::Navigates),
            ),
            (
                "https://v.vault.azure.net/secrets/a_b",
                Err(SecretIdError::Shape),
            ),
        ] {
            assert_eq!(SecretId::parse(id).map(drop), want, "{id}");
        }
    }

    #[test]
    fn vaults_of_a_cloud() {
        let of = |id: &str| SecretId::parse(id).unwrap().is_vault_of(".vault.azure.net");
        assert!(of("https://myvault.vault.azure.net/secrets/x"));
        assert!(of("https://MyVault.Vault.Azure.Net:443/secrets/x"));
        assert!(!of("https://myvault.vault.azure.net:8443/secrets/x"));
        assert!(!of("https://a.b.vault.azure.net/secrets/x"));
        assert!(!of("https://myvault.vault.azure.net.evil.com/secrets/x"));
        assert!(!of("https://evil.example.com/secrets/x"));
        assert!(!of("http://127.0.0.1:1/secrets/x"));
        assert!(!of("https://myvault.vault.usgovcloudapi.net/secrets/x"));
    }
}
