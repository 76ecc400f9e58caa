//! Shared helpers for the azure-sim integration tests: start a simulator, get tokens over HTTP,
//! call ARM, build VM bodies, compare JSON shapes.
#![allow(dead_code)]

use std::net::SocketAddr;

use azure_sim::{Scenario, SimHandle};
use reqwest::Method;
use serde_json::{Value, json};

pub const T1: &str = "11111111-1111-4111-8111-111111111111";
pub const T2: &str = "22222222-2222-4222-8222-222222222222";
pub const SUB1: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
pub const SUB2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
pub const APP: &str = "33333333-3333-4333-8333-333333333333";
pub const SECRET: &str = "local-sim-secret";
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
pub const RG2: &str =
    "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup";
pub const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";
pub const COMPUTE_API: &str = "2025-04-01";
pub const GALLERY_API: &str = "2025-03-03";
pub const NETWORK_API: &str = "2025-05-01";
pub const RESOURCES_API: &str = "2024-11-01";

/// `{GALLERY}/images/{image}/versions/1.0.0`.
pub fn version_id(image: &str) -> String {
    format!("{GALLERY}/images/{image}/versions/1.0.0")
}

/// A started simulator plus an HTTP client.
pub struct Env {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub base: String,
}

/// An HTTP response reduced to what the tests look at.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Asserts an ARM error answer: its status and `error.code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{:?}",
            self.body
        );
    }
}

impl Env {
    pub async fn new() -> Self {
        Self::with(Scenario::seed()).await
    }

    pub async fn with(scenario: Scenario) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let sim = azure_sim::start(scenario, addr).await.expect("sim starts");
        let base = sim.base_url();
        Self {
            sim,
            http: reqwest::Client::new(),
            base,
        }
    }

    /// POSTs a token request form to `/{tenant}/oauth2/v2.0/token`.
    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        to_resp(r).await
    }

    /// A client-credentials request with a client secret.
    pub async fn secret_grant(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
        scope: &str,
    ) -> Resp {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", scope),
        ];
        self.token_request(tenant, &form).await
    }

    /// The `Azure-AsyncOperation` URL of a long-running operation's answer, as a path on the
    /// simulator.
    pub fn operation_path(&self, r: &Resp) -> String {
        r.header("azure-asyncoperation")
            .expect("Azure-AsyncOperation header")
            .strip_prefix(&self.base)
            .expect("operation URL on the simulator")
            .to_owned()
    }

    /// A token for the app in `tenant` via client secret.
    pub async fn token(&self, tenant: &str, scope: &str) -> String {
        let r = self.secret_grant(tenant, APP, SECRET, scope).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// An ARM call. `aux` tokens go into `x-ms-authorization-auxiliary`.
    pub async fn arm(
        &self,
        method: Method,
        path_and_query: &str,
        token: Option<&str>,
        aux: &[&str],
        body: Option<Value>,
    ) -> Resp {
        let mut rb = self
            .http
            .request(method, format!("{}{path_and_query}", self.base));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if !aux.is_empty() {
            let v = aux
                .iter()
                .map(|t| format!("Bearer {t}"))
                .collect::<Vec<_>>()
                .join(", ");
            rb = rb.header("x-ms-authorization-auxiliary", v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        to_resp(rb.send().await.unwrap()).await
    }

    pub async fn get(&self, path_and_query: &str, token: &str) -> Resp {
        self.arm(Method::GET, path_and_query, Some(token), &[], None)
            .await
    }

    pub async fn put(&self, path_and_query: &str, token: &str, body: Value) -> Resp {
        self.arm(Method::PUT, path_and_query, Some(token), &[], Some(body))
            .await
    }

    /// Creates VNet, public IP, NSG and NIC `{prefix}Nic` in myResourceGroup; returns the NIC id.
    pub async fn network(&self, token: &str, prefix: &str, location: &str) -> String {
        let n = format!("{RG2}/providers/Microsoft.Network");
        let q = format!("?api-version={NETWORK_API}");
        let vnet = format!("{n}/virtualNetworks/{prefix}VNET");
        let r = self
            .put(&format!("{vnet}{q}"), token, json!({"location": location, "properties": {"addressSpace": {"addressPrefixes": ["192.168.0.0/16"]}, "subnets": [{"name": format!("{prefix}Subnet"), "properties": {"addressPrefix": "192.168.1.0/24"}}]}}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let pip = format!("{n}/publicIPAddresses/{prefix}PublicIP");
        let r = self
            .put(&format!("{pip}{q}"), token, json!({"location": location, "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let nsg = format!("{n}/networkSecurityGroups/{prefix}NSG");
        let r = self
            .put(&format!("{nsg}{q}"), token, json!({"location": location, "properties": {"securityRules": [{"name": "default-allow-ssh", "properties": {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "22", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*", "access": "Allow", "priority": 1000, "direction": "Inbound"}}]}}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        let nic = format!("{n}/networkInterfaces/{prefix}VMNic");
        let r = self
            .put(&format!("{nic}{q}"), token, json!({"location": location, "properties": {"networkSecurityGroup": {"id": nsg}, "ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": format!("{vnet}/subnets/{prefix}Subnet")}, "publicIPAddress": {"id": pip}}}]}}))
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        nic
    }

    /// PUT of VM `name` in myResourceGroup.
    pub async fn put_vm(&self, name: &str, token: &str, aux: &[&str], body: Value) -> Resp {
        let path = format!(
            "{RG2}/providers/Microsoft.Compute/virtualMachines/{name}?api-version={COMPUTE_API}"
        );
        self.arm(Method::PUT, &path, Some(token), aux, Some(body))
            .await
    }

    /// Tokens for the standard cross-tenant VM create: (tenant 2 primary, tenant 1 auxiliary).
    pub async fn cross_tenant_tokens(&self) -> (String, String) {
        (
            self.token(T2, ARM_SCOPE).await,
            self.token(T1, ARM_SCOPE).await,
        )
    }

    /// Completes replication of `image` 1.0.0 in both default regions.
    pub fn replicate_all(&self, image: &str) {
        for region in ["South Central US", "West US 2"] {
            self.sim
                .complete_replication(&version_id(image), region)
                .unwrap();
        }
    }
}

/// A VM body like `az vm create` sends (osProfile optional).
pub fn vm_body(image_reference: Value, nic: &str, location: &str, os_profile: bool) -> Value {
    let mut b = json!({
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "storageProfile": {
                "imageReference": image_reference,
                "osDisk": {"createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Standard_LRS"}}
            },
            "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"primary": true}}]}
        }
    });
    if os_profile {
        b["properties"]["osProfile"] = json!({"computerName": "vm1", "adminUsername": "azureuser", "adminPassword": "Sup3r-Secret-Pw!"});
    }
    b
}

async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in shape (field names and JSON types, recursively; values ignored) between an
/// expected example body and an actual body. Paths use `a.b[].c`; paths in `ignore` (and below
/// them) are skipped. Array elements are compared index by index (extra actual elements against
/// the first expected element); empty arrays match any array.
pub fn shape_diff(expected: &Value, actual: &Value, ignore: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    diff(expected, actual, "", ignore, &mut out);
    out
}

fn diff(e: &Value, a: &Value, path: &str, ignore: &[&str], out: &mut Vec<String>) {
    if ignore.contains(&path) {
        return;
    }
    if kind(e) != kind(a) {
        out.push(format!("{path}: expected {}, got {}", kind(e), kind(a)));
        return;
    }
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match am.get(k) {
                    Some(av) => diff(ev, av, &p, ignore, out),
                    None if ignore.contains(&p.as_str()) => {}
                    None => out.push(format!("{p}: missing")),
                }
            }
            for k in am.keys().filter(|k| !em.contains_key(*k)) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if !ignore.contains(&p.as_str()) {
                    out.push(format!("{p}: unexpected"));
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) if !ea.is_empty() => {
            let p = format!("{path}[]");
            for (i, av) in aa.iter().enumerate() {
                diff(ea.get(i).unwrap_or(&ea[0]), av, &p, ignore, out);
            }
        }
        _ => {}
    }
}

/// Loads `reference/arm/examples/{path}`.
pub fn example(path: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../../reference/arm/examples/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("example exists");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn shape_diff_detects_differences() {
    let e = json!({"a": 1, "b": {"c": "x"}, "l": [{"n": 1}]});
    assert!(
        shape_diff(
            &e,
            &json!({"a": 2, "b": {"c": "y"}, "l": [{"n": 5}, {"n": 6}]}),
            &[]
        )
        .is_empty()
    );
    let d = shape_diff(
        &e,
        &json!({"a": "1", "b": {}, "l": [{"n": 1, "m": 2}], "z": null}),
        &[],
    );
    assert_eq!(
        d,
        vec![
            "a: expected number, got string",
            "b.c: missing",
            "l[].m: unexpected",
            "z: unexpected"
        ]
    );
    assert!(shape_diff(&e, &json!({"a": 1, "b": {"c": "x"}, "l": []}), &["z"]).is_empty());
}
