//! A CI gate that outlives its tokens, through the real binary: `imageferry wait-replicated` in a
//! GitHub Actions or Azure Pipelines job (workload identity from the job's OIDC endpoint), against
//! test-local stand-ins with short lifetimes: the OIDC endpoint's tokens live 2 s, Entra refuses an
//! expired assertion (AADSTS700024) and its access tokens must be renewed after 2 s, and ARM
//! refuses an access token older than that. The gate lasts more than two lifetimes of each.

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP: &str = "33333333-3333-4333-8333-333333333333";
const TENANT: &str = "11111111-1111-4111-8111-111111111111";
const REQUEST_TOKEN: &str = "gh-request-token-never-printed";
const ACCESS_TOKEN: &str = "ado-job-token-never-printed";
const VERSION: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0";
/// The stand-in OIDC endpoint's token lifetime (whole seconds, as JWT `exp`).
const ASSERTION_LIFETIME: i64 = 2;
/// Entra's `expires_in`: renewed 300 s before expiry, i.e. after 2 s.
const EXPIRES_IN: i64 = 302;
/// ARM refuses access tokens older than this.
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_millis(2_500);
/// When the version's replication completes: more than two lifetimes of every token.
const REPLICATED_AFTER: Duration = Duration::from_millis(5_500);

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[derive(Default)]
struct Stand {
    start: Mutex<Option<Instant>>,
    /// When set, the OIDC endpoint answers this status (echoing the credential it was sent).
    oidc_fails: Mutex<Option<u16>>,
    oidc_requests: Mutex<usize>,
    /// Every exchange: whether Entra accepted the assertion.
    exchanges: Mutex<Vec<bool>>,
    issued: Mutex<HashMap<String, Instant>>,
    /// Every ARM read: whether its token was live.
    reads: Mutex<Vec<bool>>,
}

async fn serve(stand: Arc<Stand>) -> String {
    let router = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(entra))
        .route("/github/idtoken", axum::routing::get(oidc))
        .route("/ado/oidctoken", axum::routing::post(oidc))
        .fallback(axum::routing::get(arm))
        .with_state(stand);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/")
}

async fn oidc(
    State(stand): State<Arc<Stand>>,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    *stand.oidc_requests.lock().unwrap() += 1;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(status) = *stand.oidc_fails.lock().unwrap() {
        return (
            StatusCode::from_u16(status).unwrap(),
            format!("refused {auth}"),
        )
            .into_response();
    }
    let github = uri.path().starts_with("/github/");
    let expected = if github { REQUEST_TOKEN } else { ACCESS_TOKEN };
    if auth != format!("Bearer {expected}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.sig",
        part(serde_json::json!({"alg": "RS256"})),
        part(serde_json::json!({
            "aud": query.get("audience").cloned().unwrap_or("api://AzureADTokenExchange".into()),
            "exp": now() + ASSERTION_LIFETIME,
            "iat": now(),
        }))
    );
    if github {
        axum::Json(serde_json::json!({"count": 1, "value": token})).into_response()
    } else {
        axum::Json(serde_json::json!({"oidcToken": token})).into_response()
    }
}

async fn entra(
    State(stand): State<Arc<Stand>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let exp = form
        .get("client_assertion")
        .and_then(|a| a.split('.').nth(1).map(str::to_owned))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c["exp"].as_i64());
    let valid = exp.is_some_and(|exp| now() < exp);
    stand.exchanges.lock().unwrap().push(valid);
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "error": "invalid_client",
                "error_description": "AADSTS700024: Client assertion is not within its valid time range.",
                "error_codes": [700024],
            })),
        )
            .into_response();
    }
    let token = uuid::Uuid::new_v4().to_string();
    stand
        .issued
        .lock()
        .unwrap()
        .insert(token.clone(), Instant::now());
    axum::Json(serde_json::json!({
        "token_type": "Bearer", "expires_in": EXPIRES_IN, "ext_expires_in": EXPIRES_IN,
        "access_token": token,
    }))
    .into_response()
}

/// The gallery image version (the reference example's shape), replicating until
/// [`REPLICATED_AFTER`] from the first read.
async fn arm(State(stand): State<Arc<Stand>>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let live = stand
        .issued
        .lock()
        .unwrap()
        .get(token)
        .is_some_and(|at| at.elapsed() < ACCESS_TOKEN_LIFETIME);
    stand.reads.lock().unwrap().push(live);
    if !live {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry UTC time is earlier than current UTC time."}})),
        )
            .into_response();
    }
    let start = *stand.start.lock().unwrap().get_or_insert_with(Instant::now);
    let (state, progress) = if start.elapsed() < REPLICATED_AFTER {
        ("Replicating", 40)
    } else {
        ("Completed", 100)
    };
    axum::Json(serde_json::json!({
        "id": VERSION,
        "name": "1.0.0",
        "location": "West US",
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "West US", "regionalReplicaCount": 1, "storageAccountType": "Standard_LRS"}],
                "replicaCount": 1,
                "storageAccountType": "Standard_LRS"
            },
            "storageProfile": {"osDiskImage": {"sizeInGB": 10, "hostCaching": "ReadOnly"}},
            "replicationStatus": {
                "aggregatedState": if state == "Completed" { "Completed" } else { "InProgress" },
                "summary": [{"region": "West US", "state": state, "details": "", "progress": progress}]
            },
            "provisioningState": "Succeeded"
        }
    }))
    .into_response()
}

async fn imageferry(base: &str, ci: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_imageferry"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AZURE_AUTHORITY_HOST", base)
        .env("IMAGEFERRY_ARM_ENDPOINT", base)
        .env("AZURE_CLIENT_ID", APP)
        .env("AZURE_TENANT_ID", TENANT);
    for (k, v) in ci {
        cmd.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("imageferry finishes")
        .expect("imageferry runs")
}

fn github(base: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{base}github/idtoken?api-version=2.0"),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN.into()),
    ]
}

fn pipelines(base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SYSTEM_OIDCREQUESTURI", format!("{base}ado/oidctoken")),
        (
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID",
            "00000000-0000-0000-0000-000000000003".into(),
        ),
        ("SYSTEM_ACCESSTOKEN", ACCESS_TOKEN.into()),
    ]
}

const GATE: &[&str] = &[
    "wait-replicated",
    VERSION,
    "--region",
    "westus",
    "--poll",
    "250ms",
    "--timeout",
    "1m",
];

#[tokio::test]
async fn a_gate_longer_than_two_token_lifetimes_keeps_working_in_github_actions_and_azure_pipelines()
 {
    for ci in ["github", "pipelines"] {
        let stand = Arc::new(Stand::default());
        let base = serve(stand.clone()).await;
        let env = if ci == "github" {
            github(&base)
        } else {
            pipelines(&base)
        };
        let started = Instant::now();
        let out = imageferry(&base, &env, GATE).await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{ci}: {stdout}{stderr}");
        assert!(stdout.contains("replicated to westus"), "{ci}: {stdout}");
        assert!(started.elapsed() > REPLICATED_AFTER);
        let exchanges = stand.exchanges.lock().unwrap().clone();
        assert!(exchanges.len() >= 3, "{ci}: renewed: {exchanges:?}");
        assert!(exchanges.iter().all(|ok| *ok), "{ci}: {exchanges:?}");
        assert_eq!(
            *stand.oidc_requests.lock().unwrap(),
            exchanges.len(),
            "{ci}: a fresh federated token for every exchange"
        );
        let reads = stand.reads.lock().unwrap().clone();
        assert!(reads.iter().all(|live| *live), "{ci}: {reads:?}");
    }
}

#[tokio::test]
async fn a_refusing_oidc_endpoint_is_named_with_the_fix_and_never_prints_the_request_token() {
    for (ci, secret, endpoint_path, fix) in [
        ("github", REQUEST_TOKEN, "github/idtoken", "id-token: write"),
        (
            "pipelines",
            ACCESS_TOKEN,
            "ado/oidctoken",
            "$(System.AccessToken)",
        ),
    ] {
        let stand = Arc::new(Stand::default());
        *stand.oidc_fails.lock().unwrap() = Some(401);
        let base = serve(stand.clone()).await;
        let env = if ci == "github" {
            github(&base)
        } else {
            pipelines(&base)
        };
        let out = imageferry(&base, &env, GATE).await;
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{ci}: {stdout}{stderr}");
        assert!(
            stderr.contains(&format!(
                "OIDC endpoint {base}{endpoint_path} answered HTTP 401"
            )),
            "{ci}: {stderr}"
        );
        assert!(stderr.contains(fix), "{ci}: {stderr}");
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{ci}: {stderr}"
        );
        assert!(stand.exchanges.lock().unwrap().is_empty());
    }
}
