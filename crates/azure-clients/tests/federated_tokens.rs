//! The workload identity's federated token, fetched fresh for every exchange from a token file,
//! GitHub Actions' OIDC endpoint or Azure Pipelines', against stand-ins with short lifetimes: an
//! OIDC endpoint whose tokens live 2 s, and an Entra token endpoint that refuses an expired
//! assertion (AADSTS700024, as Entra does) and whose access tokens must be renewed every 2 s.

mod common;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use azure_clients::credential::{FederatedTokenError, OidcProvider};
use azure_clients::{Endpoints, TokenError, TokenProvider};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{serve, vars};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

const APP: &str = "33333333-3333-4333-8333-333333333333";
const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const ARM: &str = "https://management.azure.com/.default";
const REQUEST_TOKEN: &str = "gh-request-token-do-not-print";
const ACCESS_TOKEN: &str = "ado-system-access-token-do-not-print";
const CONNECTION: &str = "00000000-0000-0000-0000-000000000003";
/// How long the stand-in's federated tokens live (`exp` = issue + 2 s, in whole seconds).
const ASSERTION_LIFETIME: i64 = 2;
/// Entra's `expires_in`: callers renew 300 s before expiry, so the token must be renewed after 2 s.
const ACCESS_TOKEN_EXPIRES_IN: i64 = 302;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A JWT-shaped token (unsigned: the stand-in Entra checks only its time range).
fn jwt(claims: serde_json::Value) -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.sig",
        part(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        part(claims)
    )
}

fn exp_of(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims["exp"].as_i64()
}

/// One request the stand-in OIDC endpoint received.
#[derive(Debug, Clone)]
struct OidcRequest {
    method: Method,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
}

#[derive(Default)]
struct Stand {
    oidc: Mutex<Vec<OidcRequest>>,
    /// When set, the OIDC endpoint answers this status.
    fail: Mutex<Option<u16>>,
    /// When set, a 200 without the token field.
    empty: Mutex<bool>,
    issued: AtomicUsize,
    /// Assertions Entra was shown, with whether it accepted them.
    exchanges: Mutex<Vec<(String, bool)>>,
}

impl Stand {
    fn oidc_requests(&self) -> Vec<OidcRequest> {
        self.oidc.lock().unwrap().clone()
    }
    fn exchanges(&self) -> Vec<(String, bool)> {
        self.exchanges.lock().unwrap().clone()
    }
}

async fn stand_in() -> (Url, Arc<Stand>) {
    let state = Arc::new(Stand::default());
    let router = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(entra_token),
        )
        .route("/github/idtoken", axum::routing::get(oidc))
        .route("/ado/oidctoken", axum::routing::post(oidc))
        .with_state(state.clone());
    (serve(router).await, state)
}

async fn entra_token(
    State(state): State<Arc<Stand>>,
    Path(_tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let assertion = form.get("client_assertion").cloned().unwrap_or_default();
    let valid = exp_of(&assertion).is_some_and(|exp| now() < exp);
    state
        .exchanges
        .lock()
        .unwrap()
        .push((assertion.clone(), valid));
    if !valid {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("AADSTS700024: Client assertion is not within its valid time range. Current time: {}, expiry time of assertion {:?}. Trace ID: 0", now(), exp_of(&assertion)),
                "error_codes": [700024],
            })),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_EXPIRES_IN,
        "ext_expires_in": ACCESS_TOKEN_EXPIRES_IN,
        "access_token": format!("at-{}", state.issued.fetch_add(1, Ordering::SeqCst)),
    }))
    .into_response()
}

async fn oidc(
    State(state): State<Arc<Stand>>,
    method: Method,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    state.oidc.lock().unwrap().push(OidcRequest {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: query.clone(),
        headers: headers.clone(),
    });
    let github = uri.path().starts_with("/github/");
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(status) = *state.fail.lock().unwrap() {
        // Echo the credential, as a careless endpoint might: it must not reach the error.
        return (
            StatusCode::from_u16(status).unwrap(),
            format!("{{\"message\":\"refused {auth}\"}}"),
        )
            .into_response();
    }
    let expected = if github { REQUEST_TOKEN } else { ACCESS_TOKEN };
    if auth != format!("Bearer {expected}") {
        return (StatusCode::UNAUTHORIZED, "bad request token").into_response();
    }
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let token = jwt(serde_json::json!({
        "iss": if github { "https://token.actions.githubusercontent.com" } else { "https://vstoken.dev.azure.com/org" },
        "aud": query.get("audience").cloned().unwrap_or("api://AzureADTokenExchange".into()),
        "sub": if github { "repo:contoso/images:ref:refs/heads/main".to_owned() } else { format!("sc://contoso/images/{CONNECTION}") },
        "iat": now(),
        "exp": now() + ASSERTION_LIFETIME,
        "jti": n,
    }));
    if *state.empty.lock().unwrap() {
        return axum::Json(serde_json::json!({"count": 0})).into_response();
    }
    if github {
        axum::Json(serde_json::json!({"count": 1, "value": token})).into_response()
    } else {
        axum::Json(serde_json::json!({"oidcToken": token})).into_response()
    }
}

fn endpoints(base: &Url) -> Endpoints {
    Endpoints::from_vars(vars(&[("AZURE_AUTHORITY_HOST", base.as_str())])).unwrap()
}

fn github_vars(base: &Url) -> Vec<(String, String)> {
    vec![
        ("AZURE_CLIENT_ID".into(), APP.into()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
            format!("{base}github/idtoken?api-version=2.0"),
        ),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
            REQUEST_TOKEN.into(),
        ),
    ]
}

fn pipelines_vars(base: &Url) -> Vec<(String, String)> {
    vec![
        ("AZURE_CLIENT_ID".into(), APP.into()),
        (
            "SYSTEM_OIDCREQUESTURI".into(),
            format!("{base}ado/oidctoken"),
        ),
        (
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID".into(),
            CONNECTION.into(),
        ),
        ("SYSTEM_ACCESSTOKEN".into(), ACCESS_TOKEN.into()),
    ]
}

fn provider(base: &Url, pairs: &[(String, String)]) -> TokenProvider {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    TokenProvider::from_vars(&endpoints(base), vars(&pairs)).unwrap()
}

/// Asks for a token every 250 ms for `gate`; every answer must be a token.
async fn gate(tokens: &TokenProvider, gate: Duration) -> usize {
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < gate {
        for tenant in [T1, T2] {
            if let Err(e) = tokens.token(tenant, ARM).await {
                panic!("after {:?}: {e}", start.elapsed());
            }
        }
        calls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    calls
}

/// More than two lifetimes of both the federated token and the access token.
const GATE: Duration = Duration::from_millis(5_500);

#[tokio::test]
async fn github_actions_gate_longer_than_two_token_lifetimes_keeps_working() {
    let (base, stand) = stand_in().await;
    let tokens = provider(&base, &github_vars(&base));
    gate(&tokens, GATE).await;

    let exchanges = stand.exchanges();
    assert!(
        exchanges.iter().all(|(_, ok)| *ok),
        "every exchange presented a live assertion: {exchanges:?}"
    );
    // Two tenants, renewed at least at 0, 2 and 4 s.
    assert!(exchanges.len() >= 6, "{}", exchanges.len());
    let requests = stand.oidc_requests();
    assert_eq!(
        requests.len(),
        exchanges.len(),
        "one fresh federated token per exchange"
    );
    let mut distinct: Vec<&String> = exchanges.iter().map(|(a, _)| a).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), exchanges.len());
    // The request as actions/toolkit's getIDToken sends it.
    for r in &requests {
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path, "/github/idtoken");
        assert_eq!(r.query["api-version"], "2.0", "the URL's own query is kept");
        assert_eq!(r.query["audience"], "api://AzureADTokenExchange");
        assert_eq!(
            r.headers["authorization"],
            format!("Bearer {REQUEST_TOKEN}")
        );
    }
}

#[tokio::test]
async fn azure_pipelines_gate_longer_than_two_token_lifetimes_keeps_working() {
    let (base, stand) = stand_in().await;
    let tokens = provider(&base, &pipelines_vars(&base));
    gate(&tokens, GATE).await;

    let exchanges = stand.exchanges();
    assert!(exchanges.iter().all(|(_, ok)| *ok), "{exchanges:?}");
    assert!(exchanges.len() >= 6, "{}", exchanges.len());
    let requests = stand.oidc_requests();
    assert_eq!(requests.len(), exchanges.len());
    // The request as the Azure SDKs' AzurePipelinesCredential sends it.
    for r in &requests {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/ado/oidctoken");
        assert_eq!(r.query["api-version"], "7.1");
        assert_eq!(r.query["serviceConnectionId"], CONNECTION);
        assert_eq!(r.headers["authorization"], format!("Bearer {ACCESS_TOKEN}"));
        assert_eq!(r.headers["x-tfs-fedauthredirect"], "Suppress");
        assert_eq!(r.headers["content-length"], "0");
    }
}

#[tokio::test]
async fn a_token_file_is_read_again_for_every_exchange() {
    let (base, stand) = stand_in().await;
    let path = std::env::temp_dir().join(format!("wi-{}.jwt", uuid::Uuid::new_v4()));
    let write = |n: u32| {
        std::fs::write(
            &path,
            jwt(serde_json::json!({"n": n, "exp": now() + ASSERTION_LIFETIME})),
        )
        .unwrap()
    };
    write(0);
    let tokens = provider(
        &base,
        &[
            ("AZURE_CLIENT_ID".into(), APP.into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".into(),
                path.display().to_string(),
            ),
        ],
    );
    tokens.token(T1, ARM).await.unwrap();
    // Whatever refreshes the file (the kubelet, a CI step), the next exchange presents its
    // current content.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    write(1);
    tokens.token(T1, ARM).await.unwrap();
    let exchanges = stand.exchanges();
    assert_eq!(exchanges.len(), 2);
    assert_ne!(exchanges[0].0, exchanges[1].0);
    assert!(exchanges.iter().all(|(_, ok)| *ok), "{exchanges:?}");

    // A file nobody refreshes: the next exchange after its token expired is refused by Entra,
    // with the hint that points CI jobs at their OIDC endpoint. (A fresh provider: the first
    // one keeps serving its still valid access token when a renewal fails.)
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let tokens = provider(
        &base,
        &[
            ("AZURE_CLIENT_ID".into(), APP.into()),
            (
                "AZURE_FEDERATED_TOKEN_FILE".into(),
                path.display().to_string(),
            ),
        ],
    );
    let err = tokens.token(T1, ARM).await.unwrap_err();
    assert!(!stand.exchanges().last().unwrap().1);
    assert!(
        matches!(&err, TokenError::FederatedCredential { code, .. } if code == "700024"),
        "{err:?}"
    );
    assert!(err.hint().unwrap().contains("OIDC endpoint"), "{err:?}");

    std::fs::remove_file(&path).unwrap();
    let err = tokens.token(T1, ARM).await.unwrap_err();
    let TokenError::FederatedToken { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(error, FederatedTokenError::File { .. }),
        "{error:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn oidc_endpoint_errors_are_typed_name_the_endpoint_and_never_the_request_token() {
    let (base, stand) = stand_in().await;
    for (vars, provider_kind, secret, endpoint) in [
        (
            github_vars(&base),
            OidcProvider::GitHubActions,
            REQUEST_TOKEN,
            format!("{base}github/idtoken"),
        ),
        (
            pipelines_vars(&base),
            OidcProvider::AzurePipelines,
            ACCESS_TOKEN,
            format!("{base}ado/oidctoken"),
        ),
    ] {
        let tokens = provider(&base, &vars);
        // Refused: permanent, with what to fix.
        *stand.fail.lock().unwrap() = Some(403);
        let err = tokens.token(T1, ARM).await.unwrap_err();
        let text = format!("{err} {err:?} {}", err.hint().unwrap_or_default());
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("<redacted>"), "the echo was scrubbed: {text}");
        let TokenError::FederatedToken { error, tenant } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(tenant, T1);
        assert!(
            matches!(error, FederatedTokenError::Status { provider, status: 403, endpoint: e, .. } if *provider == provider_kind && *e == endpoint),
            "{error:?}"
        );
        assert!(err.to_string().contains(&endpoint), "{err}");
        assert!(!err.to_string().contains("api-version"), "no query: {err}");
        assert!(!err.is_transient());
        assert_eq!(err.code(), "FederatedTokenRefused");
        let hint = err.hint().unwrap();
        match provider_kind {
            OidcProvider::GitHubActions => assert!(hint.contains("id-token: write"), "{hint}"),
            OidcProvider::AzurePipelines => {
                assert!(hint.contains("$(System.AccessToken)"), "{hint}")
            }
        }
        // Down: transient.
        *stand.fail.lock().unwrap() = Some(503);
        let err = tokens.token(T1, ARM).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(err.code(), "FederatedTokenUnavailable");
        assert!(!format!("{err:?}").contains(secret));
        // A 200 without a token.
        *stand.fail.lock().unwrap() = None;
        *stand.empty.lock().unwrap() = true;
        let err = tokens.token(T1, ARM).await.unwrap_err();
        assert!(
            matches!(
                &err,
                TokenError::FederatedToken {
                    error: FederatedTokenError::Malformed { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(&endpoint), "{err}");
        *stand.empty.lock().unwrap() = false;
        // Nothing reached Entra.
        assert!(stand.exchanges().is_empty());
    }

    // Unreachable: transient, named as such, with the endpoint.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let mut v = github_vars(&base);
    v[1].1 = format!("{closed}github/idtoken?api-version=2.0");
    let err = provider(&base, &v).token(T1, ARM).await.unwrap_err();
    let TokenError::FederatedToken { error, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(error, FederatedTokenError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(err.is_transient());
    assert!(
        err.to_string().contains(&format!("{closed}github/idtoken")),
        "{err}"
    );
    assert!(!format!("{err:?}").contains(REQUEST_TOKEN));
}

#[tokio::test]
async fn github_actions_asks_for_the_clouds_token_exchange_audience() {
    let (base, stand) = stand_in().await;
    let endpoints = Endpoints::from_vars(vars(&[
        ("IMAGEFERRY_CLOUD", "AzureUSGovernment"),
        ("AZURE_AUTHORITY_HOST", base.as_str()),
    ]))
    .unwrap();
    let pairs = github_vars(&base);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let tokens = TokenProvider::from_vars(&endpoints, vars(&pairs)).unwrap();
    tokens.token(T1, &endpoints.arm_scope).await.unwrap();
    assert_eq!(
        stand.oidc_requests()[0].query["audience"],
        "api://AzureADTokenExchangeUSGov"
    );
}
