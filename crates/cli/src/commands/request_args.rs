//! The flags that describe a deployment request (`request`, `doctor`, `plan`): a file and
//! per-field overrides. With `--scale-set NAME` (or a file with `scaleSet`) the request is a
//! scale set: the machine flags (`--vm-size`, `--admin-username`, `--ssh-public-key`,
//! `--admin-password-secret-id`, `--no-public-ip`, `--tag`) then fill `scaleSet`, and a file's
//! `vm` section becomes the `scaleSet` one.

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
    /// `scaleSet.name`: a scale set instead of a VM, created from the first version and updated
    /// in place by every newer one.
    #[arg(long)]
    scale_set: Option<String>,
    /// `scaleSet.capacity`: instances (1-100).
    #[arg(long)]
    capacity: Option<u32>,
    /// `scaleSet.upgrade`: `batches` (imageferry upgrades the instances in health-gated
    /// batches) or `rolling` (the scale set's rolling upgrade policy).
    #[arg(long, value_parser = ["batches", "rolling"])]
    upgrade: Option<String>,
    /// `scaleSet.batchPercent`: percent of the instances upgraded at a time.
    #[arg(long)]
    batch_percent: Option<u32>,
    /// `scaleSet.maxUnhealthyPercent`: more unhealthy instances than this halts the upgrade.
    #[arg(long)]
    max_unhealthy_percent: Option<u32>,
    /// `scaleSet.pauseBetweenBatches`, e.g. 30s.
    #[arg(long)]
    pause_between_batches: Option<String>,
    /// `scaleSet.health.protocol`: the Application Health probe (`http`, `https`, `tcp`).
    #[arg(long, value_parser = ["http", "https", "tcp"])]
    health_protocol: Option<String>,
    /// `scaleSet.health.port`.
    #[arg(long)]
    health_port: Option<u16>,
    /// `scaleSet.health.path` (http/https), e.g. /health.
    #[arg(long)]
    health_path: Option<String>,
    /// `scaleSet.health.graceMinutes`: how long a new instance has to report healthy.
    #[arg(long)]
    health_grace_minutes: Option<u32>,
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
    // A scale set: the machine flags go to `scaleSet`, and a file's `vm` becomes `scaleSet`.
    let machine = if args.scale_set.is_some() || obj.contains_key("scaleSet") {
        if !obj.contains_key("scaleSet")
            && let Some(vm) = obj.remove("vm")
        {
            obj.insert("scaleSet".into(), vm);
        }
        "scaleSet"
    } else {
        "vm"
    };
    let scale_set_numbers: [(Option<u32>, &[&str]); 4] = [
        (args.capacity, &["scaleSet", "capacity"]),
        (args.batch_percent, &["scaleSet", "batchPercent"]),
        (
            args.max_unhealthy_percent,
            &["scaleSet", "maxUnhealthyPercent"],
        ),
        (
            args.health_grace_minutes,
            &["scaleSet", "health", "graceMinutes"],
        ),
    ];
    for (v, path) in scale_set_numbers {
        if let Some(v) = v {
            set(&mut obj, path, json!(v));
        }
    }
    let scale_set_strings: [(&Option<String>, &[&str]); 6] = [
        (&args.scale_set, &["scaleSet", "name"]),
        (&args.upgrade, &["scaleSet", "upgrade"]),
        (
            &args.pause_between_batches,
            &["scaleSet", "pauseBetweenBatches"],
        ),
        (&args.health_protocol, &["scaleSet", "health", "protocol"]),
        (&args.health_path, &["scaleSet", "health", "path"]),
        (
            &args
                .vm_name
                .as_ref()
                .filter(|_| machine == "scaleSet")
                .cloned(),
            &["scaleSet", "name"],
        ),
    ];
    for (v, path) in scale_set_strings {
        if let Some(v) = v {
            set(&mut obj, path, json!(v));
        }
    }
    if let Some(port) = args.health_port {
        set(&mut obj, &["scaleSet", "health", "port"], json!(port));
    }
    let vm_name = args.vm_name.clone().filter(|_| machine == "vm");
    let strings: [(&Option<String>, &[&str]); 13] = [
        (&args.deployment_id, &["deploymentId"]),
        (&args.image, &["image", "id"]),
        (&args.image_tenant, &["image", "tenantId"]),
        (&args.target_tenant, &["target", "tenantId"]),
        (&args.subscription, &["target", "subscriptionId"]),
        (&args.resource_group, &["target", "resourceGroup"]),
        (&args.location, &["target", "location"]),
        (&vm_name, &["vm", "name"]),
        (&args.vm_size, &[machine, "size"]),
        (&args.admin_username, &[machine, "adminUsername"]),
        (
            &args.admin_password_secret_id,
            &[machine, "adminPasswordSecretId"],
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
        set(&mut obj, &[machine, "sshPublicKey"], json!(key));
    }
    if args.no_public_ip {
        set(&mut obj, &[machine, "publicIp"], json!(false));
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
        set(&mut obj, &[machine, "tags", k], json!(v));
    }
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        req: RequestArgs,
    }

    fn build(args: &[&str]) -> Value {
        let mut argv = vec!["imageferry"];
        argv.extend_from_slice(args);
        Cli::parse_from(argv).req.build().unwrap()
    }

    #[test]
    fn scale_set_flags_fill_scale_set_and_move_the_vm_section() {
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/deployment-request.linux.json"
        );
        let v = build(&[
            "--file",
            example,
            "--scale-set",
            "web-fleet",
            "--capacity",
            "4",
            "--upgrade",
            "rolling",
            "--health-protocol",
            "http",
            "--health-port",
            "8080",
            "--health-path",
            "/health",
            "--tag",
            "team=web",
            "--no-public-ip",
        ]);
        assert!(v.get("vm").is_none(), "{v}");
        let ss = &v["scaleSet"];
        assert_eq!(ss["name"], "web-fleet");
        assert_eq!(ss["capacity"], 4);
        assert_eq!(ss["upgrade"], "rolling");
        assert_eq!(ss["size"], "Standard_D2s_v5");
        assert_eq!(ss["publicIp"], false);
        assert_eq!(ss["tags"]["team"], "web");
        assert_eq!(
            ss["health"],
            json!({"protocol": "http", "port": 8080, "path": "/health"})
        );
        let req: imageferry_contract::DeploymentRequest = serde_json::from_value(v).unwrap();
        req.validate().unwrap();
        // Without --scale-set the same flags are the VM's.
        let v = build(&["--vm-name", "myVM", "--tag", "a=b"]);
        assert_eq!(v["vm"], json!({"name": "myVM", "tags": {"a": "b"}}));
        assert!(v.get("scaleSet").is_none());
    }
}
