//! The HTTP server: one loopback port, one dispatcher, fault injection and the request log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::http::{Reply, Req};
use crate::jwt::decode_unverified;
use crate::scenario::{Faults, Scenario};
use crate::sim::{Sim, TokenSubject};
use crate::state::{RequestRecord, ResourceRecord, key};
use crate::tls::TlsIdentity;
use crate::{arm, discovery, entra, inspect, keyvault, msi, permissions, table};

/// Largest request body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Errors from starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No resource with that id.
    #[error("no resource {0}")]
    NoSuchResource(String),
    /// A health rule names neither or both of `vm` and `scale_set`.
    #[error("invalid health rule: {0}")]
    InvalidHealthRule(String),
    /// The TLS identity could not be built.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The version does not target that region.
    #[error("image version {version} does not replicate to region {region}")]
    NoSuchRegion {
        /// Version id.
        version: String,
        /// Region.
        region: String,
    },
}

/// A running simulator.
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    tls: Option<TlsListener>,
}

/// The TLS listener of a simulator (same state as the plain one).
struct TlsListener {
    base_url: String,
    ca_pem: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// What the router of one listener knows: the simulator and the base URL clients reach it by
/// (its LRO, Key Vault and discovery URLs point back at the same listener).
#[derive(Clone)]
pub(crate) struct Served {
    sim: Arc<Sim>,
    base: Arc<str>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts the simulator on `addr` (use port 0 for an ephemeral port).
pub async fn start(scenario: Scenario, addr: SocketAddr) -> Result<SimHandle, SimError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimError::Bind { addr, source })?;
    let sim = Arc::new(Sim::new(scenario));
    let base = format!("http://{local}");
    let _ = sim.base_url.set(base.clone());
    let app = Router::new().fallback(dispatch).with_state(Served {
        sim: sim.clone(),
        base: base.into(),
    });
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "azure-sim server stopped");
        }
    });
    Ok(SimHandle {
        sim,
        addr: local,
        shutdown: Some(tx),
        task: Some(task),
        tls: None,
    })
}

/// Starts the simulator on `addr` and, with the same state, an HTTPS listener on `tls_addr`
/// with a freshly generated certificate ([`TlsIdentity::generate`]).
pub async fn start_with_tls(
    scenario: Scenario,
    addr: SocketAddr,
    tls_addr: SocketAddr,
) -> Result<SimHandle, SimError> {
    let mut handle = start(scenario, addr).await?;
    let identity = TlsIdentity::generate()?;
    handle.listen_tls(tls_addr, identity).await?;
    Ok(handle)
}

impl SimHandle {
    /// Adds an HTTPS listener on `addr` serving the same simulator with `identity`.
    pub async fn listen_tls(
        &mut self,
        addr: SocketAddr,
        identity: TlsIdentity,
    ) -> Result<String, SimError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let config = identity.server_config()?;
        let base_url = format!("https://{local}");
        let app = Router::new().fallback(dispatch).with_state(Served {
            sim: self.sim.clone(),
            base: base_url.clone().into(),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(crate::tls::serve(listener, config, app, rx));
        self.tls = Some(TlsListener {
            base_url: base_url.clone(),
            ca_pem: identity.ca_pem.clone(),
            shutdown: Some(tx),
            task: Some(task),
        });
        Ok(base_url)
    }

    /// `https://127.0.0.1:PORT` of the TLS listener, if one runs.
    pub fn tls_base_url(&self) -> Option<String> {
        self.tls.as_ref().map(|t| t.base_url.clone())
    }

    /// PEM of the CA that signed the TLS listener's certificate (what clients must trust).
    pub fn tls_ca_pem(&self) -> Option<String> {
        self.tls.as_ref().map(|t| t.ca_pem.clone())
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.sim.base_url().to_owned()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The scenario the simulator was started with.
    pub fn scenario(&self) -> &Scenario {
        &self.sim.scenario
    }

    /// All recorded requests (inspection endpoints `/_sim/*` excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim.state().requests.clone()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.sim.state().requests.clear();
    }

    /// All resources as a GET would return them now (image versions with `replicationStatus`).
    pub fn resources(&self) -> Vec<ResourceRecord> {
        inspect::resources(&self.sim)
    }

    /// One resource by ARM id (case-insensitive).
    pub fn resource(&self, id: &str) -> Option<ResourceRecord> {
        let k = key(id);
        inspect::resources(&self.sim)
            .into_iter()
            .find(|r| key(&r.id) == k)
    }

    /// Completes replication of image version `version_id` in `region` now.
    pub fn complete_replication(&self, version_id: &str, region: &str) -> Result<(), SimError> {
        inspect::set_replication(&self.sim, version_id, region, false)
    }

    /// Makes replication of `version_id` in `region` fail.
    pub fn fail_replication(&self, version_id: &str, region: &str) -> Result<(), SimError> {
        inspect::set_replication(&self.sim, version_id, region, true)
    }

    /// Current fault settings.
    pub fn faults(&self) -> Faults {
        self.sim.state().faults.clone()
    }

    /// Replaces the fault settings (rates, latency, seed, time scale) and restarts the seeded
    /// fault sequence.
    pub fn set_faults(&self, faults: Faults) {
        self.sim.state().set_faults(faults);
    }

    /// Moves simulated time forward (replication, LROs).
    pub fn advance(&self, by: Duration) {
        self.sim.state().clock.advance(by.as_secs_f64());
    }

    /// Issues an access token signed by the simulator (negative `lifetime_secs` = already expired).
    pub fn issue_token(
        &self,
        subject: &TokenSubject,
        audience: &str,
        lifetime_secs: i64,
    ) -> String {
        self.sim.issue_token(subject, audience, lifetime_secs)
    }

    /// Mints a workload-identity token (issuer = scenario `workload_issuer`, audience
    /// `api://AzureADTokenExchange`) usable as a federated `client_assertion`.
    pub fn mint_federated_token(&self, subject: &str) -> String {
        self.sim.mint_federated(
            &self.sim.scenario.workload_issuer,
            subject,
            "api://AzureADTokenExchange",
        )
    }

    /// The service principal object id of `client_id` in `tenant`.
    pub fn object_id(&self, client_id: &str, tenant: &str) -> Option<String> {
        self.sim
            .scenario
            .app(client_id)
            .map(|a| a.object_id(tenant))
    }

    /// Adds a run-time Application Health rule (what a VM's or scale-set instance's application
    /// answers from now on; newest rule first), as `POST /_sim/health` does.
    pub fn set_health(&self, rule: crate::scenario::HealthRule) -> Result<(), SimError> {
        crate::arm::health::add_rule(&self.sim, rule).map_err(|r| {
            SimError::InvalidHealthRule(r.body["error"].as_str().unwrap_or_default().to_owned())
        })
    }

    /// Forgets the run-time Application Health rules (`DELETE /_sim/health`).
    pub fn clear_health(&self) {
        self.sim.state().health.0.clear();
    }

    /// The `vmHealth` object virtual machine `vm_id` reports now (`None`: no Application Health
    /// extension, or it is not running yet); what the VM instance view shows.
    pub fn vm_health(&self, vm_id: &str) -> Option<serde_json::Value> {
        let st = self.sim.state();
        crate::arm::health::vm_health(&self.sim, &st, vm_id)
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        if let Some(tls) = self.tls.as_mut() {
            if let Some(tx) = tls.shutdown.take() {
                let _ = tx.send(());
            }
            if let Some(task) = tls.task.take() {
                let _ = task.await;
            }
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.tls.as_mut().and_then(|t| t.shutdown.take()) {
            let _ = tx.send(());
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn dispatch(State(served): State<Served>, request: Request) -> Response {
    let sim = served.sim;
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Reply::arm_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLarge",
                "Request body too large.",
            )
            .into_response();
        }
    };
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let req = Req {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: url::form_urlencoded::parse(raw_query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        raw_query,
        headers: parts.headers,
        body,
        base: served.base.to_string(),
    };
    if req.path.starts_with("/_sim/") {
        return inspect::handle(&sim, &req).into_response();
    }
    let reply = route(&sim, &req).await;
    record(&sim, &req, &reply);
    tracing::debug!(method = %req.method, path = %req.path, status = reply.status.as_u16(), "azure-sim request");
    reply.into_response()
}

async fn route(sim: &Sim, req: &Req) -> Reply {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] if req.method == Method::POST => {
            entra::token(sim, tenant, req)
        }
        [tenant, "v2.0", ".well-known", "openid-configuration"] if req.method == Method::GET => {
            discovery::openid_configuration(sim, req, tenant)
        }
        [tenant, "discovery", "v2.0", "keys"] if req.method == Method::GET => {
            discovery::keys(sim, tenant)
        }
        [_, "discovery", "instance"] if req.method == Method::GET => discovery::instance(sim, req),
        ["metadata", "endpoints"] => discovery::metadata_endpoints(req),
        ["msi", "token"] if req.method == Method::GET => msi::token(sim, req),
        ["secrets", ..] | ["deletedsecrets", ..] => match faults(sim).await {
            Some(r) => r,
            None => keyvault::handle(sim, req),
        },
        ["tenants"] => match faults(sim).await {
            Some(r) => r,
            None => arm::tenants(sim, req),
        },
        ["table", ..] => table::handle(sim, req),
        ["subscriptions", ..] if permissions::is_permissions_path(&req.path) => {
            permissions::handle(sim, req)
        }
        ["subscriptions", ..] => match faults(sim).await {
            Some(r) => r,
            None => arm::handle(sim, req),
        },
        _ => Reply::arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("azure-sim serves no {} {}", req.method, req.path),
        ),
    }
}

/// Injected latency, 429 and 5xx (seeded, so runs are reproducible).
async fn faults(sim: &Sim) -> Option<Reply> {
    let (f, throttle_roll, error_roll, which) = {
        let mut st = sim.state();
        let f = st.faults.clone();
        let a = st.rng.next_f64();
        let b = st.rng.next_f64();
        let c = st.rng.next_u64();
        (f, a, b, c)
    };
    if f.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
    }
    if throttle_roll < f.throttle_rate {
        // ARM throttling: 429 + Retry-After (learn.microsoft.com azure-resource-manager
        // "Understand how Azure Resource Manager throttles requests").
        return Some(
            Reply::arm_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for this subscription. Please retry after the time in the Retry-After header. For more information, see https://aka.ms/arm-throttling",
            )
            .with_header("retry-after", f.retry_after_secs.to_string()),
        );
    }
    if error_roll < f.server_error_rate {
        let (status, code) = if which % 2 == 0 {
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable")
        };
        return Some(Reply::arm_error(
            status,
            code,
            format!(
                "Encountered internal server error (injected by azure-sim). Diagnostic information: tracking id '{}'.",
                uuid::Uuid::new_v4()
            ),
        ));
    }
    None
}

fn record(sim: &Sim, req: &Req, reply: &Reply) {
    let aux_raw = arm::auth::aux_raw(req);
    let aux_tenants = aux_raw
        .iter()
        .filter_map(|t| decode_unverified(t).ok())
        .filter_map(|(_, p)| p.get("tid").and_then(|v| v.as_str()).map(str::to_owned))
        .collect();
    let (mut token_tenant, mut token_appid) = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .and_then(|(_, t)| decode_unverified(t.trim()).ok())
        .map(|(_, p)| {
            let s = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_owned);
            (s("tid"), s("appid"))
        })
        .unwrap_or((None, None));
    if req.path.ends_with("/oauth2/v2.0/token") {
        token_tenant = req
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .map(str::to_owned);
        token_appid = req
            .form()
            .into_iter()
            .find(|(k, _)| k == "client_id")
            .map(|(_, v)| v);
    }
    let mut st = sim.state();
    st.record(RequestRecord {
        seq: 0,
        method: req.method.to_string(),
        path: req.path.clone(),
        query: req.raw_query.clone(),
        aux_header: req.header("x-ms-authorization-auxiliary").is_some(),
        aux_token_count: aux_raw.len(),
        status: reply.status.as_u16(),
        token_tenant,
        token_appid,
        aux_tenants,
        error_code: reply.error_code.clone(),
    });
}

/// Mints a token for a principal of the scenario; used by `/_sim/token`.
pub(crate) fn sim_token(sim: &Sim, body: &serde_json::Value) -> Reply {
    let s = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(tenant), Some(audience)) = (s("tenant"), s("audience")) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"error": "tenant and audience are required"}),
        );
    };
    let appid = s("client_id").unwrap_or_default();
    let oid = s("object_id").unwrap_or_else(|| {
        sim.scenario
            .app(&appid)
            .map(|a| a.object_id(&tenant))
            .unwrap_or_default()
    });
    let lifetime = body
        .get("lifetime_secs")
        .and_then(|v| v.as_i64())
        .unwrap_or(3599);
    let token = sim.issue_token(&TokenSubject { tenant, appid, oid }, &audience, lifetime);
    Reply::json(StatusCode::OK, json!({"access_token": token}))
}
