//! Application Health: the `ApplicationHealthLinux` / `ApplicationHealthWindows` extension
//! (publisher `Microsoft.ManagedServices`) and the `vmHealth` it makes a VM or a scale-set
//! instance report in its instance view.
//!
//! Sources (MicrosoftDocs/azure-compute-docs): articles/virtual-machines/extensions/health-extension.md
//! and articles/virtual-machine-scale-sets/virtual-machine-scale-sets-health-extension.md:
//! - settings `protocol` (`http` | `https` | `tcp`), `port` (mandatory for tcp), `requestPath`
//!   (mandatory for http/https, not allowed for tcp), `intervalInSeconds` (5–60, default 5),
//!   `numberOfProbes` (1–24, default 1), `gracePeriod` (Rich states only, at most 14400, default
//!   `intervalInSeconds * numberOfProbes`);
//! - `typeHandlerVersion` `1.0` = Binary Health States (healthy / unhealthy), `2.0` = Rich Health
//!   States (initializing / healthy / unhealthy / unknown): Initializing from extension start until
//!   `numberOfProbes` equal answers; a grace period that runs out turns it into Unknown (http/https)
//!   or Unhealthy (tcp); a Binary app that gives no healthy answer is Unhealthy;
//! - the VM instance view's `vmHealth.status` (`code` `HealthState/unknown`, `level` `Warning`,
//!   `displayStatus` "The VM health is unknown" is the documented sample; `HealthState/healthy` /
//!   `HealthState/unhealthy` are the codes Azure's SDK tests and users' scripts compare against).
//!   The other display texts and levels are approximations.
//!
//! What the application answers is the scenario's (`[[health]]` rules) or a test's (`/_sim/health`);
//! without a rule it answers healthy.

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::resources::Prepared;
use super::{ArmResult, Ctx};
use crate::http::{Reply, Req};
use crate::sim::Sim;
use crate::state::{State, key};

/// The extension's publisher.
pub const PUBLISHER: &str = "Microsoft.ManagedServices";
/// The extension's types (Linux, Windows).
pub const TYPES: [&str; 2] = ["ApplicationHealthLinux", "ApplicationHealthWindows"];

/// What the application inside a VM answers to the extension's probe.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AppHealth {
    /// A healthy answer (HTTP 200 / `{"ApplicationHealthState": "Healthy"}` / a TCP handshake).
    Healthy,
    /// An unhealthy answer (`{"ApplicationHealthState": "Unhealthy"}`, a non-200 code, no handshake).
    Unhealthy,
    /// No answer at all (nothing listens on the probe's port).
    Silent,
}

/// Who answers what: a VM (by name) or scale-set instances (by scale-set name and instance ids).
/// Names are case-insensitive and may use `*` as a wildcard. `version` limits the rule to VMs or
/// instances running that image version (e.g. a bad build). The newest matching rule wins.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthRule {
    /// VM name pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm: Option<String>,
    /// Scale-set name pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_set: Option<String>,
    /// Instance ids within the matching scale sets (empty: all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// Image version name (`1.1.0`) the VM or instance must run for the rule to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The answer.
    pub state: AppHealth,
}

impl HealthRule {
    /// Checks the rule's shape: exactly one of `vm` / `scale_set`; `instances` only with a scale set.
    pub fn check(&self) -> Result<(), String> {
        match (&self.vm, &self.scale_set) {
            (Some(_), None) if !self.instances.is_empty() => {
                Err("a health rule for a vm cannot name instances".to_owned())
            }
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err("a health rule names exactly one of vm or scale_set".to_owned()),
        }
    }

    fn matches(&self, target: &Target) -> bool {
        let version_ok = |v: Option<&str>| {
            self.version
                .as_deref()
                .is_none_or(|want| v.is_some_and(|v| v.eq_ignore_ascii_case(want)))
        };
        match target {
            Target::Vm { name, version } => {
                self.vm.as_deref().is_some_and(|p| glob(p, name)) && version_ok(*version)
            }
            Target::Instance {
                scale_set,
                instance,
                version,
            } => {
                self.scale_set
                    .as_deref()
                    .is_some_and(|p| glob(p, scale_set))
                    && (self.instances.is_empty() || self.instances.iter().any(|i| i == instance))
                    && version_ok(*version)
            }
        }
    }
}

/// Case-insensitive match with `*` for any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a health rule is asked about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A virtual machine.
    Vm {
        name: &'a str,
        version: Option<&'a str>,
    },
    /// A scale-set instance.
    Instance {
        scale_set: &'a str,
        instance: &'a str,
        version: Option<&'a str>,
    },
}

/// Rules added at run time by `/_sim/health` (checked before the scenario's, newest first).
#[derive(Debug, Default)]
pub(crate) struct Overrides(pub(crate) Vec<HealthRule>);

/// What the application of `target` answers now: the newest matching run-time rule, else the
/// newest matching scenario rule, else healthy.
pub(crate) fn answer(sim: &Sim, st: &State, target: &Target) -> AppHealth {
    st.health
        .0
        .iter()
        .rev()
        .chain(sim.scenario.health.iter().rev())
        .find(|r| r.matches(target))
        .map_or(AppHealth::Healthy, |r| r.state)
}

/// The probe protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http,
    Https,
    Tcp,
}

/// The extension's settings, checked against the documented rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeSettings {
    pub(crate) protocol: Protocol,
    /// Rich Health States (`typeHandlerVersion` 2.x).
    pub(crate) rich: bool,
    pub(crate) interval_secs: f64,
    pub(crate) probes: f64,
    pub(crate) grace_secs: f64,
}

/// Whether an extension's `properties` are the Application Health extension's.
pub(crate) fn is_health_extension(props: &Value) -> bool {
    props["publisher"]
        .as_str()
        .is_some_and(|p| p.eq_ignore_ascii_case(PUBLISHER))
        && props["type"]
            .as_str()
            .is_some_and(|t| TYPES.iter().any(|x| x.eq_ignore_ascii_case(t)))
}

/// The Application Health extension among a scale set's `extensionProfile.extensions`.
pub(crate) fn in_profile(profile: &Value) -> Option<&Value> {
    profile["extensionProfile"]["extensions"]
        .as_array()?
        .iter()
        .find(|e| is_health_extension(&e["properties"]))
}

/// The settings of a health extension's `properties`, or the reason the extension would fail.
pub(crate) fn settings(props: &Value) -> Result<ProbeSettings, String> {
    let s = &props["settings"];
    let int = |name: &str| -> Result<Option<i64>, String> {
        match s.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("'{name}' must be an integer")),
        }
    };
    let protocol = match s["protocol"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("http") => Protocol::Http,
        Some("https") => Protocol::Https,
        Some("tcp") => Protocol::Tcp,
        other => {
            return Err(format!(
                "'protocol' must be http, https or tcp, not {}",
                other.unwrap_or("missing")
            ));
        }
    };
    let port = int("port")?;
    let path = s.get("requestPath").filter(|v| !v.is_null());
    if protocol == Protocol::Tcp {
        if port.is_none() {
            return Err("'port' is mandatory when protocol is tcp".to_owned());
        }
        if path.is_some() {
            return Err("'requestPath' is not allowed when protocol is tcp".to_owned());
        }
    } else if path.and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err("'requestPath' is mandatory when protocol is http or https".to_owned());
    }
    if let Some(p) = port
        && !(1..=65535).contains(&p)
    {
        return Err(format!("'port' {p} is not a port number"));
    }
    let interval = int("intervalInSeconds")?.unwrap_or(5);
    if !(5..=60).contains(&interval) {
        return Err(format!(
            "'intervalInSeconds' must be between 5 and 60, not {interval}"
        ));
    }
    let probes = int("numberOfProbes")?.unwrap_or(1);
    if !(1..=24).contains(&probes) {
        return Err(format!(
            "'numberOfProbes' must be between 1 and 24, not {probes}"
        ));
    }
    let rich = props["typeHandlerVersion"]
        .as_str()
        .is_some_and(|v| v.trim().starts_with('2'));
    let grace = int("gracePeriod")?.unwrap_or(interval * probes);
    if rich && !(0..=14400).contains(&grace) {
        return Err(format!(
            "'gracePeriod' must be at most 14400 seconds, not {grace}"
        ));
    }
    Ok(ProbeSettings {
        protocol,
        rich,
        interval_secs: interval as f64,
        probes: probes as f64,
        grace_secs: grace as f64,
    })
}

/// A `HealthState/*` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HealthCode {
    Initializing,
    Healthy,
    Unhealthy,
    Unknown,
}

impl HealthCode {
    /// The instance-view code, e.g. `HealthState/healthy`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            HealthCode::Initializing => "HealthState/initializing",
            HealthCode::Healthy => "HealthState/healthy",
            HealthCode::Unhealthy => "HealthState/unhealthy",
            HealthCode::Unknown => "HealthState/unknown",
        }
    }

    /// How a rolling upgrade counts it (the documented interpretation table): Unknown counts as
    /// unhealthy, Initializing is waited for.
    pub(crate) fn counts_unhealthy(self) -> bool {
        matches!(self, HealthCode::Unhealthy | HealthCode::Unknown)
    }
}

/// The health an extension with `settings` reports `elapsed` simulated seconds after it started,
/// for an application answering `app`.
pub(crate) fn code_after(settings: &ProbeSettings, app: AppHealth, elapsed: f64) -> HealthCode {
    let settle = settings.interval_secs * settings.probes;
    if !settings.rich {
        return match app {
            AppHealth::Healthy if elapsed >= settle => HealthCode::Healthy,
            _ => HealthCode::Unhealthy,
        };
    }
    let expired = || {
        if settings.protocol == Protocol::Tcp {
            HealthCode::Unhealthy
        } else {
            HealthCode::Unknown
        }
    };
    match app {
        AppHealth::Silent if elapsed < settings.grace_secs => HealthCode::Initializing,
        AppHealth::Silent => expired(),
        _ if elapsed < settle && elapsed < settings.grace_secs => HealthCode::Initializing,
        _ if elapsed < settle => expired(),
        AppHealth::Healthy => HealthCode::Healthy,
        AppHealth::Unhealthy => HealthCode::Unhealthy,
    }
}

/// Simulated seconds after extension start at which an application answering `app` reports
/// healthy (`None`: never).
pub(crate) fn healthy_after(settings: &ProbeSettings, app: AppHealth) -> Option<f64> {
    let settle = settings.interval_secs * settings.probes;
    match app {
        AppHealth::Healthy if !settings.rich || settle <= settings.grace_secs => Some(settle),
        _ => None,
    }
}

/// RFC 3339 wall-clock time of simulated instant `t`.
pub(crate) fn wall_time(st: &State, t: f64) -> String {
    let behind = st.clock.real_secs((st.clock.now() - t).max(0.0));
    (time::OffsetDateTime::now_utc() - time::Duration::seconds_f64(behind))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The `vmHealth` object (VirtualMachineHealthStatus: `{status: InstanceViewStatus}`).
pub(crate) fn vm_health_value(code: HealthCode, time: String) -> Value {
    let (level, display) = match code {
        HealthCode::Healthy => ("Info", "The VM is healthy"),
        HealthCode::Unhealthy => ("Error", "The VM is unhealthy"),
        HealthCode::Initializing => ("Info", "The VM health is initializing"),
        HealthCode::Unknown => ("Warning", "The VM health is unknown"),
    };
    json!({"status": {"code": code.code(), "level": level, "displayStatus": display, "time": time}})
}

/// The image version name a VM body runs (`storageProfile.imageReference`: `exactVersion`, or
/// the version of a gallery version id).
pub(crate) fn version_of(body: &Value) -> Option<String> {
    let r = &body["properties"]["storageProfile"]["imageReference"];
    if let Some(v) = r["exactVersion"].as_str() {
        return Some(v.to_owned());
    }
    let id = r["id"]
        .as_str()
        .or(r["sharedGalleryImageId"].as_str())
        .or(r["communityGalleryImageId"].as_str())?;
    let (head, version) = id.rsplit_once('/')?;
    head.to_ascii_lowercase()
        .ends_with("/versions")
        .then(|| version.to_owned())
}

/// The hook for the VM instance view: the `vmHealth` of virtual machine `vm_id` now, or `None`
/// when it reports none (no Application Health extension, the extension or the VM still being
/// provisioned, or an extension whose settings fail).
pub(crate) fn vm_health(sim: &Sim, st: &State, vm_id: &str) -> Option<Value> {
    let now = st.clock.now();
    let vm = st.resources.get(&key(vm_id))?;
    if vm.provisioning_state(now) != "Succeeded" {
        return None;
    }
    let prefix = format!("{}/extensions/", key(vm_id));
    let (ext, settings) = st.resources.iter().find_map(|(k, r)| {
        let props = &r.body["properties"];
        (k.starts_with(&prefix) && is_health_extension(props))
            .then(|| settings(props).ok().map(|s| (r, s)))
            .flatten()
    })?;
    if ext.provisioning_state(now) != "Succeeded" {
        return None;
    }
    let started = ext.ready_at.max(vm.ready_at);
    let name = vm.body["name"].as_str().unwrap_or_default();
    let version = version_of(&vm.body);
    let target = Target::Vm {
        name,
        version: version.as_deref(),
    };
    let code = code_after(&settings, answer(sim, st, &target), now - started);
    Some(vm_health_value(code, wall_time(st, now)))
}

/// The `Prepared` body of a VM extension PUT (VirtualMachineExtension): server fields, secrets
/// (`protectedSettings`) never echoed; an Application Health extension whose settings break the
/// documented rules ends `Failed` with `VMExtensionProvisioningError` (the extension, not ARM,
/// rejects them; message format as Azure reports extension failures).
pub(crate) fn prepare_vm_extension(ctx: &Ctx, id: &str, name: &str, mut body: Value) -> Prepared {
    body["id"] = Value::String(id.to_owned());
    body["name"] = Value::String(name.to_owned());
    body["type"] = json!("Microsoft.Compute/virtualMachines/extensions");
    if let Some(p) = body["properties"].as_object_mut() {
        p.remove("protectedSettings");
        p.remove("protectedSettingsFromKeyVault");
    }
    let fail = extension_failure(name, &body["properties"]);
    Prepared {
        body,
        duration: ctx.sim.scenario.lro.vm_extension_secs,
        fail,
        replication: Vec::new(),
    }
}

/// The failure an extension with `props` reports: only the Application Health extension's
/// settings are checked.
pub(crate) fn extension_failure(name: &str, props: &Value) -> Option<(String, String)> {
    if !is_health_extension(props) {
        return None;
    }
    settings(props).err().map(|reason| {
        (
            "VMExtensionProvisioningError".to_owned(),
            format!(
                "VM has reported a failure when processing extension '{name}'. Error message: \"Invalid settings: {reason}.\""
            ),
        )
    })
}

/// `/_sim/health`: `GET` lists the run-time rules, `POST` a [`HealthRule`] adds one, `DELETE`
/// forgets them all. `None` for other paths.
pub(crate) fn handle_sim(sim: &Sim, req: &Req) -> Option<Reply> {
    if req.path != "/_sim/health" {
        return None;
    }
    let mut st = sim.state();
    Some(match req.method {
        http::Method::GET => Reply::json(StatusCode::OK, json!(st.health.0)),
        http::Method::DELETE => {
            st.health.0.clear();
            Reply::json(StatusCode::OK, json!({}))
        }
        http::Method::POST => match serde_json::from_slice::<HealthRule>(&req.body)
            .map_err(|e| format!("invalid JSON body: {e}"))
            .and_then(|r| r.check().map(|()| r))
        {
            Ok(rule) => {
                st.health.0.push(rule);
                Reply::json(StatusCode::OK, json!(st.health.0))
            }
            Err(e) => Reply::json(StatusCode::BAD_REQUEST, json!({"error": e})),
        },
        _ => Reply::json(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"error": "GET, POST or DELETE /_sim/health"}),
        ),
    })
}

/// Validates a health rule and adds it to the run-time rules (for [`crate::SimHandle`]).
pub(crate) fn add_rule(sim: &Sim, rule: HealthRule) -> ArmResult<()> {
    rule.check()
        .map_err(|e| Reply::json(StatusCode::BAD_REQUEST, json!({"error": e})))?;
    sim.state().health.0.push(rule);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(version: &str, settings: Value) -> Value {
        json!({"publisher": PUBLISHER, "type": "ApplicationHealthLinux", "typeHandlerVersion": version, "settings": settings})
    }

    #[test]
    fn settings_follow_the_documented_rules() {
        let ok = settings(&props(
            "2.0",
            json!({"protocol": "http", "port": 80, "requestPath": "/health", "gracePeriod": 600}),
        ))
        .unwrap();
        assert_eq!(
            (
                ok.protocol,
                ok.rich,
                ok.interval_secs,
                ok.probes,
                ok.grace_secs
            ),
            (Protocol::Http, true, 5.0, 1.0, 600.0)
        );
        let tcp = settings(&props("1.0", json!({"protocol": "tcp", "port": 22}))).unwrap();
        assert!(!tcp.rich);
        assert_eq!(tcp.grace_secs, 5.0, "default grace = interval * probes");
        for (bad, why) in [
            (json!({"protocol": "tcp"}), "'port' is mandatory"),
            (
                json!({"protocol": "tcp", "port": 22, "requestPath": "/"}),
                "not allowed",
            ),
            (
                json!({"protocol": "https", "port": 443}),
                "'requestPath' is mandatory",
            ),
            (
                json!({"protocol": "http", "requestPath": "/", "intervalInSeconds": 4}),
                "between 5 and 60",
            ),
            (
                json!({"protocol": "http", "requestPath": "/", "numberOfProbes": 25}),
                "between 1 and 24",
            ),
            (
                json!({"protocol": "http", "requestPath": "/", "gracePeriod": 14401}),
                "at most 14400",
            ),
            (json!({"protocol": "udp", "port": 1}), "http, https or tcp"),
        ] {
            let e = settings(&props("2.0", bad.clone())).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(extension_failure("h", &props("2.0", json!({}))).is_some());
        assert!(
            extension_failure(
                "cse",
                &json!({"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript"})
            )
            .is_none()
        );
    }

    #[test]
    fn rich_and_binary_states_over_time() {
        let rich = settings(&props(
            "2.0",
            json!({"protocol": "http", "requestPath": "/", "intervalInSeconds": 10, "numberOfProbes": 3, "gracePeriod": 120}),
        ))
        .unwrap();
        use AppHealth as A;
        use HealthCode as H;
        assert_eq!(code_after(&rich, A::Healthy, 10.0), H::Initializing);
        assert_eq!(code_after(&rich, A::Healthy, 30.0), H::Healthy);
        assert_eq!(code_after(&rich, A::Unhealthy, 30.0), H::Unhealthy);
        assert_eq!(code_after(&rich, A::Silent, 119.0), H::Initializing);
        assert_eq!(code_after(&rich, A::Silent, 120.0), H::Unknown);
        assert_eq!(healthy_after(&rich, A::Healthy), Some(30.0));
        assert_eq!(healthy_after(&rich, A::Silent), None);
        let mut tcp = rich.clone();
        tcp.protocol = Protocol::Tcp;
        assert_eq!(
            code_after(&tcp, A::Silent, 120.0),
            H::Unhealthy,
            "tcp has no Unknown"
        );
        let binary = settings(&props(
            "1.0",
            json!({"protocol": "tcp", "port": 80, "numberOfProbes": 2}),
        ))
        .unwrap();
        assert_eq!(code_after(&binary, A::Healthy, 5.0), H::Unhealthy);
        assert_eq!(code_after(&binary, A::Healthy, 10.0), H::Healthy);
        assert_eq!(code_after(&binary, A::Silent, 1000.0), H::Unhealthy);
        assert!(H::Unknown.counts_unhealthy() && !H::Initializing.counts_unhealthy());
    }

    /// The VM instance view hook: no extension, no vmHealth; with one, Initializing, then what the
    /// scenario's or a run-time rule says the application answers.
    #[test]
    fn vm_health_follows_the_extension_and_the_rules() {
        use crate::state::Resource;
        let mut scenario = crate::Scenario::seed();
        scenario.health.push(HealthRule {
            vm: Some("web-*".into()),
            scale_set: None,
            instances: vec![],
            version: Some("1.1.0".into()),
            state: AppHealth::Silent,
        });
        let sim = Sim::new(scenario);
        let vm_id =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/web-1";
        let record = |id: &str, body: Value, ready_at: f64| Resource {
            id: id.to_owned(),
            resource_type: String::new(),
            body,
            put_count: 1,
            creating: true,
            ready_at,
            fail: false,
            replication: Vec::new(),
        };
        let image = |v: &str| json!({"name": "web-1", "properties": {"storageProfile": {"imageReference": {"id": format!("/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i/versions/{v}")}}}});
        {
            let mut st = sim.state();
            st.resources
                .insert(key(vm_id), record(vm_id, image("1.0.0"), 30.0));
        }
        let health = |sim: &Sim| {
            let st = sim.state();
            vm_health(sim, &st, vm_id).map(|v| v["status"]["code"].as_str().unwrap().to_owned())
        };
        sim.state().clock.advance(100.0);
        assert_eq!(health(&sim), None, "no extension, no vmHealth");
        let ext = format!("{vm_id}/extensions/health");
        let ext_body = json!({"properties": props("2.0", json!({"protocol": "http", "requestPath": "/health", "intervalInSeconds": 5, "numberOfProbes": 2, "gracePeriod": 60}))});
        {
            let mut st = sim.state();
            let now = st.clock.now();
            st.resources
                .insert(key(&ext), record(&ext, ext_body, now + 10.0));
        }
        assert_eq!(
            health(&sim),
            None,
            "the extension is still being provisioned"
        );
        sim.state().clock.advance(12.0);
        assert_eq!(health(&sim).as_deref(), Some("HealthState/initializing"));
        sim.state().clock.advance(10.0);
        assert_eq!(health(&sim).as_deref(), Some("HealthState/healthy"));
        let v = {
            let st = sim.state();
            vm_health(&sim, &st, vm_id).unwrap()
        };
        assert_eq!(v["status"]["level"], "Info");
        assert!(v["status"]["time"].as_str().unwrap().contains('T'));
        // A run-time rule wins over the default.
        sim.state().health.0.push(HealthRule {
            vm: Some("WEB-1".into()),
            scale_set: None,
            instances: vec![],
            version: None,
            state: AppHealth::Unhealthy,
        });
        assert_eq!(health(&sim).as_deref(), Some("HealthState/unhealthy"));
        sim.state().health.0.clear();
        // The scenario's rule applies only to VMs on 1.1.0: a silent app ends Unknown (http).
        sim.state().resources.get_mut(&key(vm_id)).unwrap().body = image("1.1.0");
        assert_eq!(
            health(&sim).as_deref(),
            Some("HealthState/initializing"),
            "within the grace period"
        );
        sim.state().clock.advance(60.0);
        assert_eq!(health(&sim).as_deref(), Some("HealthState/unknown"));
    }

    #[test]
    fn rules_match_by_name_instance_and_version() {
        let r = HealthRule {
            vm: None,
            scale_set: Some("web-*".into()),
            instances: vec!["2".into()],
            version: Some("1.1.0".into()),
            state: AppHealth::Unhealthy,
        };
        let inst = |ss, i, v| Target::Instance {
            scale_set: ss,
            instance: i,
            version: v,
        };
        assert!(r.matches(&inst("WEB-east", "2", Some("1.1.0"))));
        assert!(!r.matches(&inst("web-east", "3", Some("1.1.0"))));
        assert!(!r.matches(&inst("web-east", "2", Some("1.0.0"))));
        assert!(!r.matches(&inst("api", "2", Some("1.1.0"))));
        assert!(!r.matches(&Target::Vm {
            name: "web-east",
            version: Some("1.1.0")
        }));
        assert!(glob("*", "x") && glob("a*c", "abbc") && !glob("a*c", "abcd"));
        let both = HealthRule {
            vm: Some("a".into()),
            ..r.clone()
        };
        assert!(both.check().is_err());
        assert!(r.check().is_ok());
    }

    #[test]
    fn versions_are_read_from_the_image_reference() {
        let vm = |r: Value| json!({"properties": {"storageProfile": {"imageReference": r}}});
        assert_eq!(
            version_of(&vm(
                json!({"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i/versions/1.2.0"})
            )),
            Some("1.2.0".into())
        );
        assert_eq!(
            version_of(&vm(
                json!({"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/i"})
            )),
            None
        );
        assert_eq!(
            version_of(&vm(json!({"id": "/x/images/i", "exactVersion": "1.0.0"}))),
            Some("1.0.0".into())
        );
        assert_eq!(
            version_of(&vm(
                json!({"sharedGalleryImageId": "/SharedGalleries/u/Images/i/Versions/2.0.0"})
            )),
            Some("2.0.0".into())
        );
    }
}
