//! The deployment requests `imageferry dev` sends: a sample from `examples/` or a file, once or
//! `--count N` times with numbered ids and VM names.

use std::path::Path;

use serde_json::Value;

/// The samples shipped in `examples/`.
pub const LINUX_SAMPLE: &str = "examples/deployment-request.linux.json";
/// The Windows sample: its password is a Key Vault secret id, pointed at the stand-in's vault.
pub const WINDOWS_SAMPLE: &str = "examples/deployment-request.windows.json";

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// `deploymentId`.
    pub id: String,
    /// The JSON body.
    pub body: String,
}

/// Why the request file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// It cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It is not JSON (and more than one request was asked for).
    #[error("{} is not JSON: {source}", path.display())]
    NotJson {
        /// The file.
        path: std::path::PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads `path` and makes `count` requests from it (ids `{id}-0001`…, VM names `{name}0001`…
/// when `count > 1`). A Windows password's Key Vault secret id is pointed at `vault` (the local
/// stand-in serves the secret under the same name); `notes` says so.
pub fn load(
    path: &Path,
    count: usize,
    vault: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Request>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    let template: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        // Not JSON: sent as is, once; the pipeline rejects it (that is a valid local test).
        Err(_) if count == 1 => {
            return Ok(vec![Request {
                id: "unknown".into(),
                body: text,
            }]);
        }
        Err(source) => {
            return Err(LoadError::NotJson {
                path: path.to_owned(),
                source,
            });
        }
    };
    let base_id = template["deploymentId"]
        .as_str()
        .unwrap_or("dev")
        .to_string();
    let base_vm = template["vm"]["name"].as_str().unwrap_or("vm").to_string();
    let mut out = Vec::with_capacity(count);
    for i in 1..=count {
        let mut body = template.clone();
        let id = if count == 1 {
            base_id.clone()
        } else {
            let suffix = format!("-{i:04}");
            let keep = 40usize.saturating_sub(suffix.len()).min(base_id.len());
            format!("{}{suffix}", &base_id[..keep])
        };
        if count > 1 {
            body["deploymentId"] = Value::String(id.clone());
            body["vm"]["name"] = Value::String(format!("{base_vm}{i:04}"));
        }
        if let Some(secret) = body["vm"]["adminPasswordSecretId"].as_str()
            && let Some(local) = local_secret_id(secret, vault)
        {
            if i == 1 {
                notes.push(format!(
                    "vault            {secret} -> {local} (the stand-in's Key Vault)"
                ));
            }
            body["vm"]["adminPasswordSecretId"] = Value::String(local);
        }
        out.push(Request {
            id,
            body: body.to_string(),
        });
    }
    Ok(out)
}

/// `https://{vault}/secrets/{name}[/{version}]` on another host → `{vault}/secrets/{name}[/…]`
/// on the stand-in; `None` when it already points there or is not a secret id.
fn local_secret_id(secret: &str, vault: &str) -> Option<String> {
    if secret.starts_with(vault) {
        return None;
    }
    let url = url::Url::parse(secret).ok()?;
    let path = url.path();
    path.starts_with("/secrets/")
        .then(|| format!("{}{path}", vault.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn numbers_ids_and_names() {
        let mut notes = Vec::new();
        let r = load(
            &repo().join(LINUX_SAMPLE),
            3,
            "http://127.0.0.1:9",
            &mut notes,
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[2].id, "web-canary-42-0003");
        let v: Value = serde_json::from_str(&r[2].body).unwrap();
        assert_eq!(v["vm"]["name"], "myVM0003");
        assert_eq!(v["deploymentId"], "web-canary-42-0003");
        let one = load(
            &repo().join(LINUX_SAMPLE),
            1,
            "http://127.0.0.1:9",
            &mut notes,
        )
        .unwrap();
        assert_eq!(one[0].id, "web-canary-42");
        assert!(notes.is_empty());
    }

    #[test]
    fn the_windows_sample_uses_the_local_vault() {
        let mut notes = Vec::new();
        let r = load(
            &repo().join(WINDOWS_SAMPLE),
            1,
            "http://127.0.0.1:9",
            &mut notes,
        )
        .unwrap();
        let v: Value = serde_json::from_str(&r[0].body).unwrap();
        assert_eq!(
            v["vm"]["adminPasswordSecretId"],
            "http://127.0.0.1:9/secrets/vm-admin-password"
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(
            local_secret_id("http://127.0.0.1:9/secrets/x", "http://127.0.0.1:9"),
            None
        );
    }
}
