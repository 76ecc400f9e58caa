//! The flags that describe a deployment request (`request`, `doctor`, `plan`): a file and
//! per-field overrides.

use serde_json::{Map, Value, json};

/// A request from `--file` and field flags.
#[derive(clap::Args, Debug, Clone)]
pub struct RequestArgs {
    /// A request JSON file (`-` for stdin); flags below override its fields.
    #[arg(long, short = 'f')]
    file: Option<String>,
    /// `deploymentId` (1-40 of a-z, 0-9, -): the idempotency key.
    #[arg(long)]
    deployment_id: Option<String>,
    /// `image.id`: the gallery image version id (or /SharedGalleries/…, /CommunityGalleries/…).
    #[arg(long)]
    image: Option<String>,
    /// `image.tenantId`: the gallery's tenant (tenant 1).
    #[arg(long)]
    image_tenant: Option<String>,
    /// `target.tenantId` (tenant 2).
    #[arg(long)]
    target_tenant: Option<String>,
    /// `target.subscriptionId`.
    #[arg(long)]
    subscription: Option<String>,
    /// `target.resourceGroup`.
    #[arg(long)]
    resource_group: Option<String>,
    /// `target.location`, e.g. southcentralus.
    #[arg(long)]
    location: Option<String>,
    /// `vm.name`.
    #[arg(long)]
    vm_name: Option<String>,
    /// `vm.size`, e.g. Standard_D2s_v5.
    #[arg(long)]
    vm_size: Option<String>,
    /// `vm.adminUsername`.
    #[arg(long)]
    admin_username: Option<String>,
    /// `vm.sshPublicKey`: the key, or `@path` to read it from a file.
    #[arg(long)]
    ssh_public_key: Option<String>,
    /// `vm.adminPasswordSecretId` (Windows): a Key Vault secret id.
    #[arg(long)]
    admin_password_secret_id: Option<String>,
    /// `vm.publicIp` = false.
    #[arg(long)]
    no_public_ip: bool,
    /// `network.allowInboundFrom` (repeat; CIDR, or `*` explicitly).
    #[arg(long)]
    allow_inbound_from: Vec<String>,
    /// `network.subnetId`: an existing subnet instead of a new network.
    #[arg(long)]
    subnet_id: Option<String>,
    /// `deadline` (RFC 3339).
    #[arg(long)]
    deadline: Option<String>,
    /// `vm.tags` entries `name=value` (repeat).
    #[arg(long = "tag")]
    tags: Vec<String>,
}

/// Why the request cannot be built from the file and the flags.
#[derive(Debug, thiserror::Error)]
pub enum RequestArgsError {
    /// The file (or stdin, `-`) cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The path, or `stdin`.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not JSON: {source}")]
    NotJson {
        /// The path.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The file is JSON but not an object.
    #[error("{0}: a request is a JSON object")]
    NotObject(String),
    /// A `--tag` without `=`.
    #[error("--tag {0:?}: expected name=value")]
    Tag(String),
    /// The JSON is not a request (as the handler decodes it).
    #[error("the request does not decode: {0}")]
    Decode(#[source] serde_json::Error),
}

/// The text of `path`, or of stdin for `-`.
pub(crate) fn read_source(path: &str) -> Result<String, RequestArgsError> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| {
            RequestArgsError::Read {
                path: "stdin".into(),
                source,
            }
        })?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).map_err(|source| RequestArgsError::Read {
            path: path.to_owned(),
            source,
        })
    }
}

fn set(obj: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = obj;
    for p in parents {
        let entry = cur.entry(p.to_string()).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        cur = entry.as_object_mut().expect("object");
    }
    cur.insert(last.to_string(), value);
}

impl RequestArgs {
    /// The request JSON from the file and the flags.
    pub fn build(&self) -> Result<Value, RequestArgsError> {
        build(self)
    }

    /// The request from the file and the flags, decoded as the handler decodes it.
    pub fn decode(&self) -> Result<imageferry_contract::DeploymentRequest, RequestArgsError> {
        serde_json::from_value(self.build()?).map_err(RequestArgsError::Decode)
    }
}

fn build(args: &RequestArgs) -> Result<Value, RequestArgsError> {
    let mut obj = match &args.file {
        Some(f) => {
            let text = read_source(f)?;
            let parsed = serde_json::from_str::<Value>(&text).map_err(|source| {
                RequestArgsError::NotJson {
                    path: f.clone(),
                    source,
                }
            })?;
            match parsed {
                Value::Object(o) => o,
                _ => return Err(RequestArgsError::NotObject(f.clone())),
            }
        }
        None => Map::new(),
    };
    let strings: [(&Option<String>, &[&str]); 13] = [
        (&args.deployment_id, &["deploymentId"]),
        (&args.image, &["image", "id"]),
        (&args.image_tenant, &["image", "tenantId"]),
        (&args.target_tenant, &["target", "tenantId"]),
        (&args.subscription, &["target", "subscriptionId"]),
        (&args.resource_group, &["target", "resourceGroup"]),
        (&args.location, &["target", "location"]),
        (&args.vm_name, &["vm", "name"]),
        (&args.vm_size, &["vm", "size"]),
        (&args.admin_username, &["vm", "adminUsername"]),
        (
            &args.admin_password_secret_id,
            &["vm", "adminPasswordSecretId"],
        ),
        (&args.subnet_id, &["network", "subnetId"]),
        (&args.deadline, &["deadline"]),
    ];
    for (v, path) in strings {
        if let Some(v) = v {
            set(&mut obj, path, json!(v));
        }
    }
    if let Some(key) = &args.ssh_public_key {
        let key = match key.strip_prefix('@') {
            Some(path) => read_source(path)?.trim().to_owned(),
            None => key.clone(),
        };
        set(&mut obj, &["vm", "sshPublicKey"], json!(key));
    }
    if args.no_public_ip {
        set(&mut obj, &["vm", "publicIp"], json!(false));
    }
    if !args.allow_inbound_from.is_empty() {
        set(
            &mut obj,
            &["network", "allowInboundFrom"],
            json!(args.allow_inbound_from),
        );
    }
    for tag in &args.tags {
        let (k, v) = tag
            .split_once('=')
            .ok_or_else(|| RequestArgsError::Tag(tag.clone()))?;
        set(&mut obj, &["vm", "tags", k], json!(v));
    }
    Ok(Value::Object(obj))
}
