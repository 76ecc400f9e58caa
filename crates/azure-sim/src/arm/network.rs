//! Microsoft.Network resources: virtual network (with subnets), public IP, NSG, NIC.
//!
//! Server-populated fields follow reference/arm/examples/network/*.json: child ids, child
//! `provisioningState`, the NSG's `defaultSecurityRules` (copied from
//! NetworkSecurityGroupCreateWithRule.json), NIC `ipConfigurations[].properties` defaults,
//! `dnsSettings`, public IP defaults (PublicIpAddressCreateDefaults.json).

use std::sync::OnceLock;

use serde_json::{Value, json};

use super::ArmResult;
use super::resources::{Kind, lookup, referenced};
use crate::state::{State, key};

const NSG_EXAMPLE: &str = include_str!(
    "../../../../reference/arm/examples/network/NetworkSecurityGroupCreateWithRule.json"
);
const NSG_EXAMPLE_ID: &str = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/networkSecurityGroups/testnsg";

fn default_security_rules(nsg_id: &str) -> Value {
    static RULES: OnceLock<String> = OnceLock::new();
    let template = RULES.get_or_init(|| {
        let example: Value = serde_json::from_str(NSG_EXAMPLE).expect("bundled example is JSON");
        example["responses"]["201"]["body"]["properties"]["defaultSecurityRules"].to_string()
    });
    serde_json::from_str(&template.replace(NSG_EXAMPLE_ID, nsg_id)).expect("template is JSON")
}

fn set_common(body: &mut Value, kind: Kind, id: &str, name: &str) {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    body["type"] = Value::String(kind.type_name().to_owned());
    if !body["properties"].is_object() {
        body["properties"] = json!({});
    }
}

fn set_default(obj: &mut Value, field: &str, value: Value) {
    if obj.get(field).is_none_or(Value::is_null) {
        obj[field] = value;
    }
}

/// The action a NIC PUT needs on each subnet it uses.
const SUBNET_JOIN: &str = "Microsoft.Network/virtualNetworks/subnets/join/action";
/// The action a NIC PUT needs on the network security group it names.
const NSG_JOIN: &str = "Microsoft.Network/networkSecurityGroups/join/action";
/// The action a NIC PUT needs on each public IP address it names.
const PUBLIC_IP_JOIN: &str = "Microsoft.Network/publicIPAddresses/join/action";

/// A NIC may only use subnets, a network security group and public IPs the caller may join
/// (Network RP's linked access check): otherwise 403 `LinkedAccessCheckFailed` (the message of
/// Microsoft Learn's Virtual WAN/VNet permission articles: "The client with object id '...' does
/// not have authorization to perform action '...' over scope '...' or the scope is invalid. ...
/// If access was recently granted, please refresh your credentials.").
pub(crate) fn authorize_nic_links(ctx: &super::Ctx, body: &Value) -> ArmResult<()> {
    let props = &body["properties"];
    let mut links: Vec<(&str, &str)> = Vec::new();
    for c in props["ipConfigurations"].as_array().into_iter().flatten() {
        if let Some(subnet) = c["properties"]["subnet"]["id"].as_str() {
            links.push((SUBNET_JOIN, subnet));
        }
        if let Some(pip) = c["properties"]["publicIPAddress"]["id"].as_str() {
            links.push((PUBLIC_IP_JOIN, pip));
        }
    }
    if let Some(nsg) = props["networkSecurityGroup"]["id"].as_str() {
        links.push((NSG_JOIN, nsg));
    }
    for (action, scope) in links {
        if !super::auth::authorized(ctx.sim, &ctx.caller, action, scope) {
            return Err(crate::http::Reply::arm_error(
                http::StatusCode::FORBIDDEN,
                "LinkedAccessCheckFailed",
                format!(
                    "The client with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. For details on the required permissions, please visit 'https://aka.ms/vnetpermissions'. If access was recently granted, please refresh your credentials.",
                    ctx.caller.oid
                ),
            ));
        }
    }
    Ok(())
}

/// Validates references and fills server-populated fields.
pub(crate) fn prepare(
    st: &State,
    kind: Kind,
    id: &str,
    name: &str,
    mut body: Value,
) -> ArmResult<Value> {
    set_common(&mut body, kind, id, name);
    let props = &mut body["properties"];
    match kind {
        Kind::VirtualNetwork => {
            if let Some(subnets) = props.get_mut("subnets").and_then(Value::as_array_mut) {
                for s in subnets {
                    let sname = s["name"].as_str().unwrap_or_default().to_owned();
                    s["id"] = Value::String(format!("{id}/subnets/{sname}"));
                    if !s["properties"].is_object() {
                        s["properties"] = json!({});
                    }
                }
            } else {
                props["subnets"] = json!([]);
            }
            set_default(props, "virtualNetworkPeerings", json!([]));
        }
        Kind::PublicIp => {
            set_default(props, "publicIPAddressVersion", json!("IPv4"));
            set_default(props, "publicIPAllocationMethod", json!("Dynamic"));
            set_default(props, "idleTimeoutInMinutes", json!(4));
            set_default(&mut body, "sku", json!({"name": "Basic"}));
            // Standard SKU addresses report DDoS settings (PublicIpAddressCreateCustomizedValues.json).
            if body["sku"]["name"] == json!("Standard") {
                set_default(
                    &mut body["properties"],
                    "ddosSettings",
                    json!({"protectionMode": "VirtualNetworkInherited"}),
                );
            }
            if let Some(existing) = lookup(st, id)
                && let Some(ipc) = existing["properties"].get("ipConfiguration")
            {
                body["properties"]["ipConfiguration"] = ipc.clone();
            }
            // A Static address is allocated when the resource is created and kept on update
            // (learn.microsoft.com/azure/virtual-network/ip-services/public-ip-addresses,
            // "IP address assignment"); a Dynamic one only once attached to a running VM, which
            // the simulator leaves out. Addresses come from TEST-NET-2 (RFC 5737).
            if body["properties"]["publicIPAllocationMethod"] == json!("Static") {
                let kept = lookup(st, id)
                    .and_then(|existing| existing["properties"].get("ipAddress").cloned());
                let address = kept.unwrap_or_else(|| json!(test_net_address(id)));
                body["properties"]["ipAddress"] = address;
            }
        }
        Kind::Nsg => {
            if let Some(rules) = props.get_mut("securityRules").and_then(Value::as_array_mut) {
                for r in rules {
                    let rname = r["name"].as_str().unwrap_or_default().to_owned();
                    r["id"] = Value::String(format!("{id}/securityRules/{rname}"));
                }
            } else {
                props["securityRules"] = json!([]);
            }
            props["defaultSecurityRules"] = default_security_rules(id);
        }
        Kind::Nic => {
            let location = body["location"].as_str().unwrap_or_default().to_owned();
            let props = &mut body["properties"];
            if let Some(nsg) = props["networkSecurityGroup"]["id"].as_str() {
                referenced(st, nsg, id, &location)?;
            }
            let configs = props
                .get_mut("ipConfigurations")
                .and_then(Value::as_array_mut)
                .map(std::mem::take)
                .unwrap_or_default();
            let mut out = Vec::with_capacity(configs.len());
            for (i, mut c) in configs.into_iter().enumerate() {
                let cname = c["name"].as_str().unwrap_or("ipconfig1").to_owned();
                c["name"] = Value::String(cname.clone());
                c["id"] = Value::String(format!("{id}/ipConfigurations/{cname}"));
                if !c["properties"].is_object() {
                    c["properties"] = json!({});
                }
                let cp = &mut c["properties"];
                if let Some(subnet) = cp["subnet"]["id"].as_str() {
                    referenced(st, subnet, id, &location)?;
                } else if let Some(first) = out
                    .first()
                    .and_then(|f: &Value| f["properties"].get("subnet"))
                {
                    cp["subnet"] = first.clone();
                }
                if let Some(pip) = cp["publicIPAddress"]["id"].as_str() {
                    referenced(st, pip, id, &location)?;
                }
                // Azure reserves the first four addresses of a subnet, so the first NIC gets
                // x.x.x.4 (learn.microsoft.com/azure/virtual-network/virtual-networks-faq,
                // "Are there any restrictions on using IP addresses within these subnets?").
                let base = cp["subnet"]["id"]
                    .as_str()
                    .and_then(|subnet| subnet_base(st, subnet))
                    .unwrap_or([10, 0, 0, 0]);
                let [a, b, c3, _] = base;
                let address = match cp
                    .get("privateIPAddressPrefixLength")
                    .and_then(Value::as_u64)
                {
                    Some(len) => format!("{a}.{b}.{c3}.{}/{len}", 16 * (i + 1)),
                    None => format!("{a}.{b}.{c3}.{}", 4 + i),
                };
                set_default(cp, "privateIPAddress", Value::String(address));
                set_default(cp, "privateIPAllocationMethod", json!("Dynamic"));
                set_default(cp, "primary", json!(i == 0));
                set_default(cp, "privateIPAddressVersion", json!("IPv4"));
                out.push(c);
            }
            props["ipConfigurations"] = Value::Array(out);
            set_default(
                props,
                "dnsSettings",
                json!({"dnsServers": [], "appliedDnsServers": []}),
            );
            set_default(props, "enableAcceleratedNetworking", json!(false));
            set_default(props, "enableIPForwarding", json!(false));
            set_default(props, "vnetEncryptionSupported", json!(false));
        }
        _ => {}
    }
    Ok(body)
}

/// An address in 198.51.100.0/24 (TEST-NET-2) derived from the resource id.
fn test_net_address(id: &str) -> String {
    let hash = id
        .to_ascii_lowercase()
        .bytes()
        .fold(2_166_136_261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16_777_619)
        });
    format!("198.51.100.{}", 1 + hash % 254)
}

/// The network address of a subnet (`.../virtualNetworks/{v}/subnets/{s}`), from its VNet's body.
fn subnet_base(st: &State, subnet_id: &str) -> Option<[u8; 4]> {
    let (vnet_id, subnet) = subnet_id.rsplit_once("/subnets/")?;
    let vnet = lookup(st, vnet_id)?;
    let prefix = vnet["properties"]["subnets"].as_array()?.iter().find(|s| {
        s["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(subnet))
    })?["properties"]["addressPrefix"]
        .as_str()?;
    let address: std::net::Ipv4Addr = prefix.split('/').next()?.parse().ok()?;
    Some(address.octets())
}

/// After a NIC PUT: the public IPs it uses now show `ipConfiguration` (as in the example bodies).
pub(crate) fn link_references(st: &mut State, kind: Kind, id: &str) {
    if kind != Kind::Nic {
        return;
    }
    let Some(nic) = st.resources.get(&key(id)).map(|r| r.body.clone()) else {
        return;
    };
    for c in nic["properties"]["ipConfigurations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let (Some(pip), Some(cid)) = (
            c["properties"]["publicIPAddress"]["id"].as_str(),
            c["id"].as_str(),
        ) && let Some(r) = st.resources.get_mut(&key(pip))
        {
            r.body["properties"]["ipConfiguration"] = json!({"id": cid});
        }
    }
}

/// The subnet `name` of a rendered VNet body.
pub(crate) fn find_subnet(vnet: &Value, name: &str) -> Option<Value> {
    vnet["properties"]["subnets"]
        .as_array()?
        .iter()
        .find(|s| {
            s["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .cloned()
}

/// Sets `provisioningState` on child objects the way the network examples show it.
pub(crate) fn stamp_children(body: &mut Value, state: &str) {
    for field in [
        "subnets",
        "securityRules",
        "defaultSecurityRules",
        "ipConfigurations",
    ] {
        if let Some(items) = body["properties"]
            .get_mut(field)
            .and_then(Value::as_array_mut)
        {
            for item in items {
                if item["properties"].is_object() {
                    item["properties"]["provisioningState"] = Value::String(state.to_owned());
                }
            }
        }
    }
}
