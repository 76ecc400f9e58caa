//! Template deployments (`Microsoft.Resources/deployments` in a resource group), as far as
//! `az vm create`'s generated template needs them: PUT with an inline `template` and
//! `parameters` (Incremental mode), the template's `parameters`, `variables`, `resources` with
//! `dependsOn` (ordered; cycles and unknown names refused), `condition`, expressions
//! (see [`super::template`]) and `outputs`; the deployment's long-running operation
//! (`Azure-AsyncOperation` → `…/operationStatuses/{id}`), GET, HEAD, list, DELETE of the record,
//! `validate`, and its operations list.
//!
//! Each resource is created by the same code as a direct PUT, with the deployment request's
//! own token and `x-ms-authorization-auxiliary` header: a VM whose image is in another tenant
//! needs the auxiliary token inside a deployment exactly as outside one, and every rule
//! (RBAC, linked access, image rules, api-version) applies. A refused resource fails the
//! deployment (`DeploymentFailed` with the resource's error in `details`, and a `Failed`
//! operation), and what follows it is not deployed.
//!
//! Refused (400 `InvalidTemplate`), never ignored: `templateLink`, `parametersLink`, `Complete`
//! mode, `onErrorDeployment`, `expressionEvaluationOptions`, user-defined `functions`,
//! `languageVersion`/`definitions`/`apiProfile`, `copy` loops, nested child `resources`,
//! `scope`, Key Vault parameter references, unknown template or resource members.
//!
//! Shapes: azure-rest-api-specs `resources.json` `DeploymentExtended`, `DeploymentOperation`
//! (`operationId`, `properties{provisioningOperation, provisioningState, timestamp, duration,
//! trackingId, statusCode, statusMessage, targetResource{id, resourceType, resourceName}}`),
//! and the errors ARM returns: `InvalidTemplate` "Deployment template validation failed: '…'."
//! and `DeploymentFailed` "At least one resource deployment operation failed. Please list
//! deployment operations for details. Please see https://aka.ms/arm-deployment-operations for
//! usage details." (as quoted in the Azure CLI's and Terraform's public issues).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::errors::{method_not_allowed, rg_not_found};
use super::path::ArmPath;
use super::resources::{lookup, require};
use super::template::{Scope, TemplateError};
use super::{ArmResult, Ctx, api_versions};
use crate::http::{Reply, Req};
use crate::sim::rg_id;
use crate::state::key;

/// One resource deployment inside a deployment.
#[derive(Debug, Clone)]
pub(crate) struct DeployOp {
    operation_id: String,
    resource_id: String,
    resource_type: String,
    resource_name: String,
    status_code: String,
    error: Option<Value>,
    ready_at: f64,
}

/// A deployment's record.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    id: String,
    name: String,
    parameters: Value,
    template_hash: String,
    correlation: String,
    start_wall: time::OffsetDateTime,
    end: f64,
    operations: Vec<DeployOp>,
    error: Option<Value>,
    outputs: Value,
    providers: Value,
    dependencies: Value,
    status_ops: Vec<String>,
}

impl Deployment {
    fn state(&self, now: f64) -> &'static str {
        if now < self.end {
            "Running"
        } else if self.error.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
    }

    fn body(&self, now: f64, first: bool) -> Value {
        let state = if first { "Accepted" } else { self.state(now) };
        let elapsed = (time::OffsetDateTime::now_utc() - self.start_wall).as_seconds_f64();
        let mut props = json!({
            "templateHash": self.template_hash,
            "parameters": self.parameters,
            "mode": "Incremental",
            "provisioningState": state,
            "timestamp": rfc3339(time::OffsetDateTime::now_utc()),
            "duration": format!("PT{elapsed:.3}S"),
            "correlationId": self.correlation,
            "providers": self.providers,
            "dependencies": self.dependencies,
        });
        if state == "Succeeded" {
            props["outputs"] = self.outputs.clone();
            props["outputResources"] = Value::Array(
                self.operations
                    .iter()
                    .map(|o| json!({"id": o.resource_id}))
                    .collect(),
            );
        }
        if state == "Failed" {
            props["error"] = self.error.clone().unwrap_or(Value::Null);
        }
        json!({"id": self.id, "name": self.name, "type": "Microsoft.Resources/deployments", "properties": props})
    }
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn invalid_template(message: impl Into<String>) -> Reply {
    Reply::arm_error(
        StatusCode::BAD_REQUEST,
        "InvalidTemplate",
        format!(
            "Deployment template validation failed: '{}'.",
            message.into()
        ),
    )
}

fn from_template_error(e: TemplateError) -> Reply {
    invalid_template(format!(
        "The template language expression could not be evaluated: {}",
        e.0
    ))
}

/// `…/providers/Microsoft.Resources/deployments[/{name}[/…]]`.
pub(crate) fn handle(
    ctx: &Ctx,
    sub: &str,
    rg: &str,
    types: &[String],
    names: &[String],
) -> ArmResult {
    let rgid = rg_id(sub, rg);
    let base_id = format!("{rgid}/providers/Microsoft.Resources/deployments");
    {
        let st = ctx.sim.state();
        if !st.resources.contains_key(&key(&rgid)) {
            return Err(rg_not_found(rg));
        }
    }
    let lower: Vec<String> = types.iter().map(|t| t.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match (lower.as_slice(), names) {
        (["deployments"], []) => {
            require(ctx, "Microsoft.Resources/deployments/read", &rgid)?;
            if ctx.req.method != Method::GET {
                return Err(method_not_allowed(ctx));
            }
            let st = ctx.sim.state();
            let now = st.clock.now();
            let prefix = format!("{}/", key(&base_id));
            let items: Vec<Value> = st
                .deployments
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, d)| d.body(now, false))
                .collect();
            drop(st);
            Ok(super::listing::page(ctx, items))
        }
        (["deployments"], [name]) => {
            let id = format!("{base_id}/{name}");
            match ctx.req.method {
                Method::PUT => {
                    require(ctx, "Microsoft.Resources/deployments/write", &id)?;
                    put(ctx, sub, rg, name, &id, false)
                }
                Method::GET | Method::HEAD => {
                    require(ctx, "Microsoft.Resources/deployments/read", &id)?;
                    let st = ctx.sim.state();
                    let now = st.clock.now();
                    let found = st.deployments.get(&key(&id)).map(|d| d.body(now, false));
                    match (found, ctx.req.method == Method::HEAD) {
                        (Some(_), true) => Ok(Reply::json(StatusCode::NO_CONTENT, Value::Null)),
                        (Some(b), false) => Ok(Reply::json(StatusCode::OK, b)),
                        (None, true) => Ok(Reply::json(StatusCode::NOT_FOUND, Value::Null)),
                        (None, false) => Err(not_found(name, rg)),
                    }
                }
                Method::DELETE => {
                    require(ctx, "Microsoft.Resources/deployments/delete", &id)?;
                    let removed = ctx.sim.state().deployments.remove(&key(&id));
                    Ok(Reply::json(
                        if removed.is_some() {
                            StatusCode::OK
                        } else {
                            StatusCode::NO_CONTENT
                        },
                        Value::Null,
                    ))
                }
                _ => Err(method_not_allowed(ctx)),
            }
        }
        (["deployments", "validate"], [name]) if ctx.req.method == Method::POST => {
            let id = format!("{base_id}/{name}");
            require(ctx, "Microsoft.Resources/deployments/validate/action", &id)?;
            put(ctx, sub, rg, name, &id, true)
        }
        (["deployments", "operationstatuses"], [name, op]) => {
            let id = format!("{base_id}/{name}");
            require(ctx, "Microsoft.Resources/deployments/read", &id)?;
            let st = ctx.sim.state();
            let now = st.clock.now();
            let d = st
                .deployments
                .get(&key(&id))
                .filter(|d| d.status_ops.iter().any(|o| o == op))
                .ok_or_else(|| not_found(name, rg))?;
            let mut body = json!({"status": d.state(now)});
            if d.state(now) == "Failed" {
                body["error"] = d.error.clone().unwrap_or(Value::Null);
            }
            let mut reply = Reply::json(StatusCode::OK, body);
            if d.state(now) == "Running" {
                reply = reply.with_header(
                    "retry-after",
                    ctx.sim.scenario.lro.retry_after_secs.max(1).to_string(),
                );
            }
            Ok(reply)
        }
        (["deployments", "operations"], [name]) | (["deployments", "operations"], [name, _]) => {
            let id = format!("{base_id}/{name}");
            require(ctx, "Microsoft.Resources/deployments/operations/read", &id)?;
            if ctx.req.method != Method::GET {
                return Err(method_not_allowed(ctx));
            }
            let st = ctx.sim.state();
            let now = st.clock.now();
            let d = st
                .deployments
                .get(&key(&id))
                .ok_or_else(|| not_found(name, rg))?;
            let items: Vec<Value> = d
                .operations
                .iter()
                .map(|o| operation_body(&id, o, now))
                .collect();
            drop(st);
            if let [_, op] = names {
                return items
                    .into_iter()
                    .find(|o| o["operationId"] == json!(op))
                    .map(|o| Reply::json(StatusCode::OK, o))
                    .ok_or_else(|| not_found(name, rg));
            }
            Ok(super::listing::page(ctx, items))
        }
        _ => Err(Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestUri",
            format!(
                "azure-sim serves deployment PUT, GET, HEAD, DELETE, list, validate, operations and operationStatuses, not {} {}.",
                ctx.req.method, ctx.req.path
            ),
        )),
    }
}

fn not_found(name: &str, rg: &str) -> Reply {
    Reply::arm_error(
        StatusCode::NOT_FOUND,
        "DeploymentNotFound",
        format!("Deployment '{name}' could not be found."),
    )
    .with_header("x-ms-sim-resource-group", rg.to_owned())
}

fn operation_body(deployment_id: &str, o: &DeployOp, now: f64) -> Value {
    let state = match (&o.error, now >= o.ready_at) {
        (Some(_), _) => "Failed",
        (None, true) => "Succeeded",
        (None, false) => "Running",
    };
    let mut props = json!({
        "provisioningOperation": "Create",
        "provisioningState": state,
        "timestamp": rfc3339(time::OffsetDateTime::now_utc()),
        "duration": "PT1S",
        "trackingId": uuid::Uuid::new_v4().to_string(),
        "statusCode": o.status_code,
        "targetResource": {"id": o.resource_id, "resourceType": o.resource_type, "resourceName": o.resource_name},
    });
    if let Some(e) = &o.error {
        props["statusMessage"] = json!({"status": "Failed", "error": e});
    }
    json!({
        "id": format!("{deployment_id}/operations/{}", o.operation_id),
        "operationId": o.operation_id,
        "properties": props
    })
}

const TEMPLATE_KEYS: [&str; 7] = [
    "$schema",
    "contentVersion",
    "parameters",
    "variables",
    "resources",
    "outputs",
    "metadata",
];
const RESOURCE_KEYS: [&str; 15] = [
    "name",
    "type",
    "apiVersion",
    "location",
    "tags",
    "dependsOn",
    "properties",
    "sku",
    "kind",
    "plan",
    "zones",
    "identity",
    "condition",
    "comments",
    "metadata",
];

/// A template resource after validation (expressions in everything but `properties` resolved).
struct Planned {
    index: usize,
    raw: Value,
    id: String,
    type_name: String,
    name: String,
    api_version: String,
    depends_on: Vec<usize>,
}

/// Parameter values: the request's, else the template's defaults, checked against the
/// template's declarations.
fn parameters(template: &Value, given: &Value) -> Result<BTreeMap<String, Value>, Reply> {
    let declared = template["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let given = given.as_object().cloned().unwrap_or_default();
    for name in given.keys() {
        if !declared.keys().any(|d| d.eq_ignore_ascii_case(name)) {
            return Err(invalid_template(format!(
                "The template parameters '{name}' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '{}'.",
                declared.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let mut out = BTreeMap::new();
    for (name, decl) in &declared {
        let supplied = given
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        if supplied.is_some_and(|s| s.get("reference").is_some()) {
            return Err(invalid_template(format!(
                "The parameter '{name}' is a Key Vault reference; azure-sim does not resolve references in deployment parameters."
            )));
        }
        let value = supplied
            .and_then(|s| s.get("value").cloned())
            .or_else(|| decl.get("defaultValue").cloned())
            .ok_or_else(|| {
                invalid_template(format!(
                    "The value for the template parameter '{name}' is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details."
                ))
            })?;
        if let Some(allowed) = decl["allowedValues"].as_array()
            && !allowed.contains(&value)
        {
            return Err(invalid_template(format!(
                "The provided value '{value}' for the template parameter '{name}' is not valid. The parameter value is not part of the allowed value(s): '{}'.",
                allowed
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// `PUT …/deployments/{name}` (or `POST …/validate` with `validate_only`).
fn put(ctx: &Ctx, sub: &str, rg: &str, name: &str, id: &str, validate_only: bool) -> ArmResult {
    let body = super::resources::parse_body(ctx)?;
    let props = &body["properties"];
    for refused in [
        "templateLink",
        "parametersLink",
        "onErrorDeployment",
        "expressionEvaluationOptions",
    ] {
        if props.get(refused).is_some_and(|v| !v.is_null()) {
            return Err(invalid_template(format!(
                "'properties.{refused}' is not supported by azure-sim; send the template inline"
            )));
        }
    }
    let mode = props["mode"].as_str().unwrap_or("Incremental");
    if !mode.eq_ignore_ascii_case("Incremental") {
        return Err(invalid_template(format!(
            "deployment mode '{mode}' is not supported by azure-sim (Incremental only)"
        )));
    }
    let template = &props["template"];
    let Some(t) = template.as_object() else {
        return Err(invalid_template("'properties.template' is required"));
    };
    for k in t.keys() {
        let empty_functions = k == "functions" && t[k].as_array().is_some_and(Vec::is_empty);
        if !(TEMPLATE_KEYS.contains(&k.as_str()) || empty_functions) {
            return Err(invalid_template(format!(
                "the template member '{k}' is not supported by azure-sim (supported: {})",
                TEMPLATE_KEYS.join(", ")
            )));
        }
    }
    let params = parameters(template, &props["parameters"])?;
    let variables: BTreeMap<String, Value> = template["variables"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let rgid = rg_id(sub, rg);
    let rg_body = {
        let st = ctx.sim.state();
        let mut b = lookup(&st, &rgid).unwrap_or(Value::Null);
        b["type"] = json!("Microsoft.Resources/resourceGroups");
        b
    };
    let tenant = ctx.caller.tenant.clone();
    let state_lookup = |rid: &str| {
        let st = ctx.sim.state();
        lookup(&st, rid)
    };
    let scope = Scope {
        parameters: &params,
        variables: &variables,
        subscription: sub,
        tenant: &tenant,
        resource_group: &rg_body,
        deployment_name: name,
        lookup: &state_lookup,
        depth: Default::default(),
    };
    let planned = plan(ctx, &scope, template, sub, rg)?;
    let order = topo_order(&planned)?;
    let providers = providers_of(&planned, &scope);
    let dependencies = dependencies_of(&planned);
    let mut parameters_shown = serde_json::Map::new();
    for (k, v) in &params {
        let declared_type = template["parameters"][k]["type"]
            .as_str()
            .unwrap_or("String");
        parameters_shown.insert(k.clone(), json!({"type": declared_type, "value": v}));
    }
    let template_hash = {
        let d = ring::digest::digest(&ring::digest::SHA256, template.to_string().as_bytes());
        let mut n: u64 = u64::from_be_bytes(d.as_ref()[..8].try_into().expect("8 bytes"));
        n %= 10u64.pow(19);
        n.to_string()
    };
    if validate_only {
        return Ok(Reply::json(
            StatusCode::OK,
            json!({"id": id, "name": name, "type": "Microsoft.Resources/deployments", "properties": {
                "templateHash": template_hash, "parameters": parameters_shown, "mode": "Incremental",
                "provisioningState": "Succeeded", "timestamp": rfc3339(time::OffsetDateTime::now_utc()),
                "duration": "PT0S", "correlationId": uuid::Uuid::new_v4().to_string(),
                "providers": providers, "dependencies": dependencies,
                "validatedResources": planned.iter().map(|p| json!({"id": p.id})).collect::<Vec<_>>()
            }}),
        ));
    }
    let now = ctx.sim.state().clock.now();
    let mut operations = Vec::new();
    let mut error = None;
    let mut last_ready = now;
    for i in order {
        let p = &planned[i];
        if let Some(cond) = p.raw.get("condition") {
            let c = scope.resolve(cond).map_err(from_template_error)?;
            if c == json!(false) {
                continue;
            }
        }
        let op_id =
            crate::scenario::derived_guid(&format!("{id}|{}|{}", p.id, uuid::Uuid::new_v4()))
                .replace('-', "")
                .to_ascii_uppercase()[..16]
                .to_owned();
        let outcome = deploy_one(ctx, &scope, p);
        let ready = {
            let st = ctx.sim.state();
            st.resources
                .get(&key(&p.id))
                .map_or(now, |r| r.ready_at.max(now))
        };
        match outcome {
            Ok(status) => {
                last_ready = last_ready.max(ready);
                operations.push(DeployOp {
                    operation_id: op_id,
                    resource_id: p.id.clone(),
                    resource_type: p.type_name.clone(),
                    resource_name: p.name.clone(),
                    status_code: if status == StatusCode::CREATED {
                        "Created"
                    } else {
                        "OK"
                    }
                    .to_owned(),
                    error: None,
                    ready_at: ready,
                });
            }
            Err(reply) => {
                let e = reply.body["error"].clone();
                operations.push(DeployOp {
                    operation_id: op_id,
                    resource_id: p.id.clone(),
                    resource_type: p.type_name.clone(),
                    resource_name: p.name.clone(),
                    status_code: reply
                        .status
                        .canonical_reason()
                        .unwrap_or("BadRequest")
                        .replace(' ', ""),
                    error: Some(e.clone()),
                    ready_at: now,
                });
                error = Some(json!({
                    "code": "DeploymentFailed",
                    "target": id,
                    "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
                    "details": [e]
                }));
                break;
            }
        }
    }
    let end = last_ready + ctx.sim.scenario.lro.deployment_secs;
    let outputs = if error.is_none() {
        outputs_of(template, &scope)?
    } else {
        json!({})
    };
    let status_op = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    let mut st = ctx.sim.state();
    let existing_ops = st
        .deployments
        .get(&key(id))
        .map(|d| d.status_ops.clone())
        .unwrap_or_default();
    let mut status_ops = existing_ops;
    status_ops.push(status_op.clone());
    let d = Deployment {
        id: id.to_owned(),
        name: name.to_owned(),
        parameters: Value::Object(parameters_shown),
        template_hash,
        correlation: uuid::Uuid::new_v4().to_string(),
        start_wall: time::OffsetDateTime::now_utc(),
        end,
        operations,
        error,
        outputs,
        providers,
        dependencies,
        status_ops,
    };
    let created = !st.deployments.contains_key(&key(id));
    let body = d.body(now, true);
    st.deployments.insert(key(id), d);
    let url = format!(
        "{}{}/operationStatuses/{status_op}?api-version={}",
        ctx.req.base, id, ctx.api_version
    );
    let wait = ctx.sim.scenario.lro.retry_after_secs.max(1).to_string();
    Ok(Reply::json(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        body,
    )
    .with_header("azure-asyncoperation", url)
    .with_header("retry-after", wait))
}

/// Validates the template's resources and resolves their names, types and dependencies.
fn plan(
    ctx: &Ctx,
    scope: &Scope,
    template: &Value,
    sub: &str,
    rg: &str,
) -> Result<Vec<Planned>, Reply> {
    let resources = template["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut planned = Vec::new();
    for (index, raw) in resources.into_iter().enumerate() {
        let Some(o) = raw.as_object() else {
            return Err(invalid_template(format!(
                "resource {index} is not an object"
            )));
        };
        for k in o.keys() {
            if !RESOURCE_KEYS.contains(&k.as_str()) {
                return Err(invalid_template(format!(
                    "the resource member '{k}' (resource {index}) is not supported by azure-sim (supported: {})",
                    RESOURCE_KEYS.join(", ")
                )));
            }
        }
        let field = |f: &str| -> Result<String, Reply> {
            let v = scope.resolve(&raw[f]).map_err(from_template_error)?;
            v.as_str().map(str::to_owned).ok_or_else(|| {
                invalid_template(format!(
                    "the template resource at index {index} has no '{f}'"
                ))
            })
        };
        let name = field("name")?;
        let type_name = field("type")?;
        let api_version = field("apiVersion")?;
        let types: Vec<&str> = type_name.split('/').collect();
        let names: Vec<&str> = name.split('/').collect();
        if types.len() < 2 || types.len() - 1 != names.len() {
            return Err(invalid_template(format!(
                "The template resource '{name}' for type '{type_name}' has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name."
            )));
        }
        let mut id = format!("{}/providers/{}", rg_id(sub, rg), types[0]);
        for (t, n) in types[1..].iter().zip(&names) {
            id.push_str(&format!("/{t}/{n}"));
        }
        let location = scope
            .resolve(&raw["location"])
            .ok()
            .and_then(|l| l.as_str().map(str::to_owned))
            .unwrap_or_default();
        api_versions::check_arm(types[0], &types[1..].join("/"), &location, &api_version).map_err(|e| {
            let mut r = Reply::arm_error(
                StatusCode::BAD_REQUEST,
                "InvalidTemplateDeployment",
                format!(
                    "The template deployment is not valid according to the validation procedure. The tracking id is '{}'. See inner errors for details.",
                    uuid::Uuid::new_v4()
                ),
            );
            r.body["error"]["details"] = json!([e.body["error"]]);
            r
        })?;
        let _ = ctx;
        planned.push(Planned {
            index,
            raw,
            id,
            type_name,
            name,
            api_version,
            depends_on: Vec::new(),
        });
    }
    // dependsOn: a resource id, `{type}/{name}`, or a name.
    for i in 0..planned.len() {
        let deps = planned[i].raw["dependsOn"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for d in deps {
            let d = scope.resolve(&d).map_err(from_template_error)?;
            let d = d.as_str().unwrap_or_default().to_owned();
            let found = planned.iter().position(|p| {
                key(&p.id) == key(&d)
                    || format!("{}/{}", p.type_name, p.name).eq_ignore_ascii_case(&d)
                    || p.name.eq_ignore_ascii_case(&d)
            });
            match found {
                Some(j) if j != i => out.push(j),
                Some(_) => {
                    return Err(invalid_template(format!(
                        "Circular dependency detected on resource: '{}'",
                        planned[i].id
                    )));
                }
                None => {
                    return Err(invalid_template(format!(
                        "The resource '{d}' is not defined in the template"
                    )));
                }
            }
        }
        planned[i].depends_on = out;
    }
    Ok(planned)
}

/// Deployment order: every resource after what it depends on (template order otherwise).
fn topo_order(planned: &[Planned]) -> Result<Vec<usize>, Reply> {
    let mut state = vec![0u8; planned.len()];
    let mut out = Vec::new();
    fn visit(
        i: usize,
        planned: &[Planned],
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) -> Result<(), usize> {
        match state[i] {
            2 => return Ok(()),
            1 => return Err(i),
            _ => {}
        }
        state[i] = 1;
        for &d in &planned[i].depends_on {
            visit(d, planned, state, out)?;
        }
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..planned.len() {
        visit(i, planned, &mut state, &mut out).map_err(|j| {
            invalid_template(format!(
                "Circular dependency detected on resource: '{}'",
                planned[j].id
            ))
        })?;
    }
    Ok(out)
}

fn providers_of(planned: &[Planned], scope: &Scope) -> Value {
    let mut by_ns: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for p in planned {
        let (ns, t) = p.type_name.split_once('/').unwrap_or((&p.type_name, ""));
        let loc = scope
            .resolve(&p.raw["location"])
            .ok()
            .and_then(|l| l.as_str().map(str::to_owned))
            .unwrap_or_default();
        let e = by_ns
            .entry(ns.to_owned())
            .or_default()
            .entry(t.to_owned())
            .or_default();
        if !e.contains(&loc) {
            e.push(loc);
        }
    }
    Value::Array(
        by_ns
            .into_iter()
            .map(|(ns, types)| {
                json!({"namespace": ns, "resourceTypes": types.into_iter().map(|(t, l)| json!({"resourceType": t, "locations": l})).collect::<Vec<_>>()})
            })
            .collect(),
    )
}

fn dependencies_of(planned: &[Planned]) -> Value {
    Value::Array(
        planned
            .iter()
            .filter(|p| !p.depends_on.is_empty())
            .map(|p| {
                json!({
                    "dependsOn": p.depends_on.iter().map(|&d| {
                        let q = &planned[d];
                        json!({"id": q.id, "resourceType": q.type_name, "resourceName": q.name})
                    }).collect::<Vec<_>>(),
                    "id": p.id, "resourceType": p.type_name, "resourceName": p.name
                })
            })
            .collect(),
    )
}

/// Creates one resource as a direct PUT would, with the deployment request's credentials.
fn deploy_one(ctx: &Ctx, scope: &Scope, p: &Planned) -> Result<StatusCode, Reply> {
    let mut body = serde_json::Map::new();
    for f in [
        "location",
        "tags",
        "properties",
        "sku",
        "kind",
        "plan",
        "zones",
        "identity",
    ] {
        if let Some(v) = p.raw.get(f) {
            body.insert(f.to_owned(), scope.resolve(v).map_err(from_template_error)?);
        }
    }
    let _ = p.index;
    let mut headers = ctx.req.headers.clone();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let query = vec![("api-version".to_owned(), p.api_version.clone())];
    let req = Req {
        method: Method::PUT,
        path: p.id.clone(),
        raw_query: format!("api-version={}", p.api_version),
        query,
        headers,
        body: Bytes::from(serde_json::to_vec(&Value::Object(body)).expect("json")),
        base: ctx.req.base.clone(),
    };
    let inner = Ctx {
        sim: ctx.sim,
        req: &req,
        caller: ctx.caller.clone(),
        aux: ctx.aux.clone(),
        api_version: p.api_version.clone(),
    };
    let reply = match ArmPath::parse(&p.id) {
        Some(ArmPath::Resource {
            sub,
            rg,
            namespace,
            types,
            names,
        }) => super::resources::resource(&inner, &sub, &rg, &namespace, &types, &names)?,
        Some(ArmPath::ScaleSet {
            sub,
            rg,
            name,
            rest,
        }) => super::vmss::handle(&inner, &sub, &rg, &name, &rest)?,
        _ => return Err(invalid_template(format!("'{}' is not a resource id", p.id))),
    };
    Ok(reply.status)
}

fn outputs_of(template: &Value, scope: &Scope) -> Result<Value, Reply> {
    let mut out = serde_json::Map::new();
    for (k, decl) in template["outputs"].as_object().cloned().unwrap_or_default() {
        if decl.get("copy").is_some() {
            return Err(invalid_template(format!(
                "output '{k}': 'copy' is not supported by azure-sim"
            )));
        }
        let value = scope.resolve(&decl["value"]).map_err(from_template_error)?;
        let t = decl["type"].as_str().unwrap_or("String");
        let shown_type = match t.to_ascii_lowercase().as_str() {
            "string" => "String",
            "int" => "Int",
            "bool" => "Bool",
            "object" => "Object",
            "array" => "Array",
            "securestring" | "secureobject" => continue,
            _ => t,
        };
        out.insert(k, json!({"type": shown_type, "value": value}));
    }
    Ok(Value::Object(out))
}
