//! Token provider against a fake Entra: caching, single-flight, each credential kind, error mapping.

mod common;

use azure_clients::{AccessToken, Endpoints, SecretString, TokenError, TokenProvider, TokenSource};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Answer, MI_HEADER, MI_TOKEN, fake_entra, vars};
use futures::FutureExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use url::Url;

const APP: &str = "33333333-3333-4333-8333-333333333333";
const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const ARM: &str = "https://management.azure.com/.default";
const VAULT: &str = "https://vault.azure.net/.default";
const SECRET: &str = "s3cr3t-client-value";

fn endpoints(authority: &Url) -> Endpoints {
    Endpoints::from_vars(vars(&[("AZURE_AUTHORITY_HOST", authority.as_str())])).unwrap()
}

fn secret_provider(authority: &Url) -> TokenProvider {
    TokenProvider::from_vars(
        &endpoints(authority),
        vars(&[("AZURE_CLIENT_ID", APP), ("AZURE_CLIENT_SECRET", SECRET)]),
    )
    .unwrap()
}

#[tokio::test]
async fn secret_tokens_are_cached_per_tenant_and_scope() {
    let (base, entra) = fake_entra().await;
    let tokens = secret_provider(&base);

    let a = tokens.token(T1, ARM).await.unwrap();
    let b = tokens.token(T1, ARM).await.unwrap();
    let c = tokens.token(T2, ARM).await.unwrap();
    let d = tokens.token(T1, VAULT).await.unwrap();
    assert_eq!(a.token, b.token);
    assert!(a.token.expose().starts_with(&format!("at-{T1}-{ARM}")));
    assert!(c.token.expose().starts_with(&format!("at-{T2}-{ARM}")));
    assert!(d.token.expose().starts_with(&format!("at-{T1}-{VAULT}")));
    assert!(a.expires_on > time::OffsetDateTime::now_utc() + time::Duration::minutes(50));

    let requests = entra.requests();
    assert_eq!(requests.len(), 3, "one request per (tenant, scope)");
    let tenants: Vec<_> = requests.iter().map(|r| r.tenant.as_str()).collect();
    assert_eq!(tenants, [T1, T2, T1]);
    let form = &requests[0].form;
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], APP);
    assert_eq!(form["client_secret"], SECRET);
    assert_eq!(form["scope"], ARM);
}

#[tokio::test]
async fn concurrent_callers_share_one_request() {
    let (base, entra) = fake_entra().await;
    *entra.delay.lock().unwrap() = Duration::from_millis(100);
    let tokens = Arc::new(secret_provider(&base));

    let calls = (0..50).map(|i| {
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let tenant = if i % 2 == 0 { T1 } else { T2 };
            (tenant, tokens.token(tenant, ARM).await.unwrap())
        })
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(
        entra.count(),
        2,
        "50 concurrent callers over 2 tenants -> 2 requests"
    );
    for r in results {
        let (tenant, token) = r.unwrap();
        assert!(token.token.expose().starts_with(&format!("at-{tenant}-")));
    }
}

/// Counts fetches; tokens live `lifetime`.
struct CountingSource {
    fetches: AtomicUsize,
    lifetime: time::Duration,
}

impl TokenSource for CountingSource {
    fn fetch(&self, tenant: &str, _: &str) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        let token = AccessToken {
            token: SecretString::new(format!("{tenant}-{n}")),
            expires_on: time::OffsetDateTime::now_utc() + self.lifetime,
        };
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(token)
        }
        .boxed()
    }
}

#[tokio::test]
async fn single_flight_with_a_counting_fake_and_refresh_before_expiry() {
    let source = Arc::new(CountingSource {
        fetches: AtomicUsize::new(0),
        lifetime: time::Duration::hours(1),
    });
    let tokens = TokenProvider::with_source(source.clone());
    let all = futures::future::join_all((0..50).map(|_| tokens.token(T1, ARM))).await;
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    assert!(
        all.iter()
            .all(|t| t.as_ref().unwrap().token.expose() == format!("{T1}-0"))
    );

    // A token within 5 minutes of expiry is refreshed.
    let short = Arc::new(CountingSource {
        fetches: AtomicUsize::new(0),
        lifetime: time::Duration::minutes(4),
    });
    let tokens = TokenProvider::with_source(short.clone());
    tokens.token(T1, ARM).await.unwrap();
    tokens.token(T1, ARM).await.unwrap();
    assert_eq!(short.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn certificate_assertion_is_a_signed_rs256_jwt() {
    let (base, entra) = fake_entra().await;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/client-cert.pem"
    );
    let tokens = TokenProvider::from_vars(
        &endpoints(&base),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            ("AZURE_CLIENT_CERTIFICATE_PATH", path),
        ]),
    )
    .unwrap();
    tokens.token(T2, ARM).await.unwrap();

    let requests = entra.requests();
    let form = &requests[0].form;
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    assert!(!form.contains_key("client_secret"));
    let jwt = &form["client_assertion"];
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // Thumbprints of the certificate's DER.
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).unwrap();
    let cert = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    let s256 = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    let s1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.as_ref());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["x5t#S256"], URL_SAFE_NO_PAD.encode(s256.as_ref()));
    assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(s1.as_ref()));

    let expected_aud = format!("{}{T2}/oauth2/v2.0/token", base.as_str());
    assert_eq!(claims["aud"], expected_aud.as_str());
    assert_eq!(claims["iss"], APP);
    assert_eq!(claims["sub"], APP);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let nbf = claims["nbf"].as_i64().unwrap();
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > nbf && exp - nbf <= 3600);

    // Signature: RSASSA-PKCS1-v1_5 SHA-256 over "header.claims" with the certificate's key.
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(&pem).unwrap();
    let rustls_pki_types::PrivateKeyDer::Pkcs8(key) = key else {
        panic!("fixture key is PKCS#8")
    };
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()).unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        pair.public().as_ref().to_vec(),
    );
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    public
        .verify(signed.as_bytes(), &signature)
        .expect("valid signature");
    let mut tampered = signed.into_bytes();
    tampered[5] ^= 1;
    assert!(public.verify(&tampered, &signature).is_err());
}

#[tokio::test]
async fn bad_certificate_file_is_a_config_error() {
    let (base, _) = fake_entra().await;
    let err = TokenProvider::from_vars(
        &endpoints(&base),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/nonexistent/cert.pem"),
        ]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

#[tokio::test]
async fn workload_identity_file_is_the_assertion() {
    let (base, entra) = fake_entra().await;
    let path = std::env::temp_dir().join(format!("wi-{}.jwt", uuid::Uuid::new_v4()));
    std::fs::write(&path, "federated-token-from-file").unwrap();
    let tokens = TokenProvider::from_vars(
        &endpoints(&base),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            ("AZURE_FEDERATED_TOKEN_FILE", path.to_str().unwrap()),
        ]),
    )
    .unwrap();
    tokens.token(T1, ARM).await.unwrap();
    tokens.token(T2, ARM).await.unwrap();
    let requests = entra.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.form["client_assertion"], "federated-token-from-file");
        assert_eq!(r.form["client_id"], APP);
    }
    std::fs::remove_file(path).unwrap();
}

#[tokio::test]
async fn managed_identity_token_is_the_assertion_in_every_tenant() {
    let (base, entra) = fake_entra().await;
    let mi_endpoint = base.join("msi/token").unwrap();
    let tokens = TokenProvider::from_vars(
        &endpoints(&base),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            ("IDENTITY_ENDPOINT", mi_endpoint.as_str()),
            ("IDENTITY_HEADER", MI_HEADER),
            ("IMAGEFERRY_MANAGED_IDENTITY_CLIENT_ID", "mi-client"),
        ]),
    )
    .unwrap();
    tokens.token(T1, ARM).await.unwrap();
    tokens.token(T2, ARM).await.unwrap();

    let mi = entra.mi_requests.lock().unwrap().clone();
    assert_eq!(mi.len(), 1, "the MI token is reused across tenants");
    let (query, header) = &mi[0];
    assert_eq!(query["resource"], "api://AzureADTokenExchange");
    assert_eq!(query["api-version"], "2019-08-01");
    assert_eq!(query["client_id"], "mi-client");
    assert_eq!(header.as_deref(), Some(MI_HEADER));
    let requests = entra.requests();
    assert_eq!(
        requests
            .iter()
            .map(|r| r.tenant.as_str())
            .collect::<Vec<_>>(),
        [T1, T2]
    );
    for r in &requests {
        assert_eq!(r.form["client_assertion"], MI_TOKEN);
        assert_eq!(r.form["client_id"], APP);
    }
}

#[tokio::test]
async fn managed_identity_asks_for_the_clouds_token_exchange_audience() {
    for (cloud, audience) in [
        ("AzurePublicCloud", "api://AzureADTokenExchange"),
        ("AzureUSGovernment", "api://AzureADTokenExchangeUSGov"),
        ("AzureChinaCloud", "api://AzureADTokenExchangeChina"),
    ] {
        let (base, entra) = fake_entra().await;
        let endpoints = Endpoints::from_vars(vars(&[
            ("IMAGEFERRY_CLOUD", cloud),
            ("AZURE_AUTHORITY_HOST", base.as_str()),
        ]))
        .unwrap();
        let tokens = TokenProvider::from_vars(
            &endpoints,
            vars(&[
                ("AZURE_CLIENT_ID", APP),
                (
                    "IDENTITY_ENDPOINT",
                    base.join("msi/token").unwrap().as_str(),
                ),
                ("IDENTITY_HEADER", MI_HEADER),
            ]),
        )
        .unwrap();
        tokens.token(T2, &endpoints.arm_scope).await.unwrap();
        let mi = entra.mi_requests.lock().unwrap().clone();
        assert_eq!(mi[0].0["resource"], audience, "{cloud}");
    }
}

#[tokio::test]
async fn managed_identity_refusal_is_a_permanent_credential_error() {
    let (base, entra) = fake_entra().await;
    let tokens = TokenProvider::from_vars(
        &endpoints(&base),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            (
                "IDENTITY_ENDPOINT",
                base.join("msi/token").unwrap().as_str(),
            ),
            ("IDENTITY_HEADER", "wrong-header"),
        ]),
    )
    .unwrap();
    let err = tokens.token(T1, ARM).await.unwrap_err();
    assert!(matches!(err, TokenError::Credential { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(entra.count(), 0);
}

#[tokio::test]
async fn entra_errors_are_typed_with_what_to_do() {
    let (base, entra) = fake_entra().await;
    let tenants = [
        (
            "aaaaaaaa-0000-4000-8000-000000000001",
            Answer::Error(
                400,
                700016,
                "Application with identifier was not found in the directory.",
            ),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000002",
            Answer::Error(401, 7000215, "Invalid client secret provided."),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000003",
            Answer::Error(400, 90002, "Tenant not found."),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000004",
            Answer::Error(
                400,
                700024,
                "Client assertion is not within its valid time range.",
            ),
        ),
        ("aaaaaaaa-0000-4000-8000-000000000005", Answer::Page(503)),
        (
            "aaaaaaaa-0000-4000-8000-000000000006",
            Answer::Error(500, 90033, "A transient error has occurred."),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000007",
            Answer::Error(
                400,
                70021,
                "No matching federated identity record found for presented assertion. Assertion Issuer: 'https://login.microsoftonline.com/t/v2.0'.",
            ),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000008",
            Answer::Error(
                400,
                700213,
                "No matching federated identity record found for presented assertion subject 'x'.",
            ),
        ),
        (
            "aaaaaaaa-0000-4000-8000-000000000009",
            Answer::Error(
                400,
                700016,
                "Application with identifier was not found in the directory.",
            ),
        ),
    ];
    for (t, a) in &tenants {
        entra
            .answers
            .lock()
            .unwrap()
            .insert(t.to_string(), a.clone());
    }
    let tokens = secret_provider(&base);
    let err = |i: usize| {
        let tokens = tokens.clone();
        let tenant = tenants[i].0;
        async move { tokens.token(tenant, ARM).await.unwrap_err() }
    };

    match err(0).await {
        e @ TokenError::AppNotConsented { .. } => {
            let TokenError::AppNotConsented { consent_url, .. } = &e else {
                unreachable!()
            };
            let expected = format!(
                "{}{}/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F",
                base.as_str(),
                tenants[0].0
            );
            assert_eq!(consent_url, &expected);
            assert!(e.to_string().contains(&expected), "{e}");
            assert!(!e.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        err(1).await,
        TokenError::InvalidClientSecret { .. }
    ));
    let e = err(2).await;
    assert!(matches!(e, TokenError::UnknownTenant { .. }));
    assert!(
        e.hint().unwrap().contains("IMAGEFERRY_CLOUD"),
        "{:?}",
        e.hint()
    );
    let e = err(3).await;
    match &e {
        TokenError::FederatedCredential {
            code, description, ..
        } => {
            assert_eq!(code, "700024");
            assert!(description.contains("AADSTS700024"), "{description}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.aadsts_code(), Some("700024"));
    let e = err(6).await;
    assert!(matches!(&e, TokenError::FederatedCredential { code, .. } if code == "70021"));
    let hint = e.hint().unwrap();
    assert!(
        hint.contains("issuer") && hint.contains("subject") && hint.contains("audience"),
        "{hint}"
    );
    let e = err(7).await;
    assert!(
        e.hint().unwrap().contains("object (principal) id"),
        "{:?}",
        e.hint()
    );
    assert!(err(8).await.hint().unwrap().contains("consent"));
    let e = err(4).await;
    assert!(
        matches!(e, TokenError::Unavailable { .. }) && e.is_transient(),
        "{e:?}"
    );
    let e = err(5).await;
    assert!(
        matches!(e, TokenError::Unavailable { .. }) && e.is_transient(),
        "{e:?}"
    );

    // Failures are not cached: the next call asks again and can succeed.
    let before = entra.count();
    entra
        .answers
        .lock()
        .unwrap()
        .insert(tenants[4].0.into(), Answer::Token);
    tokens.token(tenants[4].0, ARM).await.unwrap();
    assert_eq!(entra.count(), before + 1);
}

#[tokio::test]
async fn unreachable_token_endpoint_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let err = secret_provider(&base).token(T1, ARM).await.unwrap_err();
    assert!(matches!(err, TokenError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_token_endpoint_that_does_not_resolve_is_permanent_and_named() {
    // `.invalid` never resolves (RFC 2606): a mistyped AZURE_AUTHORITY_HOST.
    let base = Url::parse("https://login.imageferry-nx.invalid/").unwrap();
    let err = secret_provider(&base).token(T1, ARM).await.unwrap_err();
    if err
        .to_string()
        .contains("Temporary failure in name resolution")
    {
        eprintln!("skipped: this machine's resolver does not answer ({err})");
        return;
    }
    assert!(
        matches!(&err, TokenError::HostNotFound { host, .. } if host == "login.imageferry-nx.invalid"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(err.hint().unwrap().contains("AZURE_AUTHORITY_HOST"));
}

/// First fetch succeeds with a token living `lifetime`; later fetches fail (Entra down).
struct FlakySource {
    fetches: AtomicUsize,
    lifetime: time::Duration,
}

impl TokenSource for FlakySource {
    fn fetch(&self, tenant: &str, _: &str) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        let result = if n == 0 {
            Ok(AccessToken {
                token: SecretString::new("first"),
                expires_on: time::OffsetDateTime::now_utc() + self.lifetime,
            })
        } else {
            Err(TokenError::Unavailable {
                tenant: tenant.to_owned(),
                reason: "HTTP 503".into(),
            })
        };
        async move { result }.boxed()
    }
}

#[tokio::test]
async fn a_failed_early_refresh_serves_the_still_valid_token() {
    let source = Arc::new(FlakySource {
        fetches: AtomicUsize::new(0),
        lifetime: time::Duration::minutes(4),
    });
    let tokens = TokenProvider::with_source(source.clone());
    assert_eq!(tokens.token(T1, ARM).await.unwrap().token.expose(), "first");
    assert_eq!(tokens.token(T1, ARM).await.unwrap().token.expose(), "first");
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "the refresh was attempted"
    );

    // A token about to expire is not served: the error is.
    let source = Arc::new(FlakySource {
        fetches: AtomicUsize::new(0),
        lifetime: time::Duration::seconds(30),
    });
    let tokens = TokenProvider::with_source(source.clone());
    tokens.token(T1, ARM).await.unwrap();
    let err = tokens.token(T1, ARM).await.unwrap_err();
    assert!(err.is_transient());
}
