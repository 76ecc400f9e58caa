//! Entra token endpoint, managed identity and federated credentials.

mod common;

use azure_sim::jwt::decode_unverified;
use common::*;
use serde_json::Value;

fn claims(token: &str) -> serde_json::Map<String, Value> {
    decode_unverified(token).unwrap().1
}

fn assert_aad_error(r: &Resp, status: u16, error: &str, code: u64) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.body["error"], error);
    assert_eq!(r.body["error_codes"], serde_json::json!([code]));
    let desc = r.body["error_description"].as_str().unwrap();
    assert!(desc.starts_with(&format!("AADSTS{code}: ")), "{desc}");
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.body[field].is_string(), "{field} missing: {:?}", r.body);
    }
}

#[tokio::test]
async fn secret_grant_issues_a_token_per_tenant_with_distinct_object_ids() {
    let env = Env::new().await;
    let r = env.secret_grant(T2, APP, SECRET, ARM_SCOPE).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert_eq!(r.body["ext_expires_in"], 3599);
    let c2 = claims(r.body["access_token"].as_str().unwrap());
    assert_eq!(c2["aud"], "https://management.azure.com");
    assert_eq!(c2["tid"], T2);
    assert_eq!(c2["iss"], format!("https://sts.windows.net/{T2}/"));
    assert_eq!(c2["appid"], APP);
    assert!(c2["exp"].as_i64().unwrap() > c2["iat"].as_i64().unwrap());
    let c1 = claims(&env.token(T1, ARM_SCOPE).await);
    assert_eq!(c1["tid"], T1);
    assert_ne!(
        c1["oid"], c2["oid"],
        "the service principal differs per tenant"
    );
    assert_eq!(
        Some(c2["oid"].as_str().unwrap().to_owned()),
        env.sim.object_id(APP, T2)
    );
    // The request log names the tenant and client, never the secret.
    let log = serde_json::to_string(&env.sim.requests()).unwrap();
    assert!(!log.contains(SECRET));
    assert_eq!(env.sim.requests()[0].token_appid.as_deref(), Some(APP));
}

#[tokio::test]
async fn http_basic_client_authentication_is_accepted() {
    let env = Env::new().await;
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{APP}:{SECRET}"));
    let r = env
        .http
        .post(format!("{}/{T1}/oauth2/v2.0/token", env.base))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            "https%3A%2F%2Fmanagement.azure.com%2F.default"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn app_not_consented_in_tenant_gets_aadsts700016() {
    let mut s = azure_sim::Scenario::seed();
    s.apps[0].consented_tenants.retain(|t| t != T2);
    let env = Env::with(s).await;
    let r = env.secret_grant(T2, APP, SECRET, ARM_SCOPE).await;
    assert_aad_error(&r, 400, "unauthorized_client", 700016);
    let desc = r.body["error_description"].as_str().unwrap();
    assert!(
        desc.contains(&format!(
            "Application with identifier '{APP}' was not found in the directory '{T2}'"
        )),
        "{desc}"
    );
}

#[tokio::test]
async fn unknown_app_gets_aadsts700016() {
    let env = Env::new().await;
    let r = env
        .secret_grant(T1, "99999999-9999-4999-8999-999999999999", "x", ARM_SCOPE)
        .await;
    assert_aad_error(&r, 400, "unauthorized_client", 700016);
}

#[tokio::test]
async fn bad_secret_gets_aadsts7000215() {
    let env = Env::new().await;
    let r = env.secret_grant(T1, APP, "wrong", ARM_SCOPE).await;
    assert_aad_error(&r, 401, "invalid_client", 7000215);
    assert!(!r.body.to_string().contains(SECRET));
}

#[tokio::test]
async fn unknown_tenant_gets_aadsts90002() {
    let env = Env::new().await;
    let r = env
        .secret_grant(
            "99999999-0000-4000-8000-000000000000",
            APP,
            SECRET,
            ARM_SCOPE,
        )
        .await;
    assert_aad_error(&r, 400, "invalid_request", 90002);
}

#[tokio::test]
async fn missing_credential_gets_aadsts7000218_and_bad_scope_is_rejected() {
    let env = Env::new().await;
    let r = env
        .token_request(
            T1,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("scope", ARM_SCOPE),
            ],
        )
        .await;
    assert_aad_error(&r, 401, "invalid_client", 7000218);
    let r = env
        .secret_grant(
            T1,
            APP,
            SECRET,
            "https://management.azure.com/user_impersonation",
        )
        .await;
    assert_aad_error(&r, 400, "invalid_scope", 1002012);
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[tokio::test]
async fn workload_identity_federated_assertion_is_exchanged() {
    let env = Env::new().await;
    let minted: Value = env
        .http
        .post(format!("{}/_sim/federated-token", env.base))
        .json(&serde_json::json!({"subject": "system:serviceaccount:imageferry:pipeline"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assertion = minted["token"].as_str().unwrap();
    let r = env
        .token_request(
            T2,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("scope", ARM_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(claims(r.body["access_token"].as_str().unwrap())["tid"], T2);

    // A subject without a federated credential is refused (AADSTS700213).
    let other = env
        .sim
        .mint_federated_token("system:serviceaccount:other:sa");
    let r = env
        .token_request(
            T2,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &other),
                ("scope", ARM_SCOPE),
            ],
        )
        .await;
    assert_aad_error(&r, 400, "invalid_request", 700213);

    // A tampered assertion fails its signature check.
    let forged = format!("{}x", &assertion[..assertion.len() - 1]);
    let r = env
        .token_request(
            T2,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", &forged),
                ("scope", ARM_SCOPE),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
}

#[tokio::test]
async fn managed_identity_endpoint_and_secretless_exchange() {
    let env = Env::new().await;
    let url = format!("{}/msi/token", env.base);
    // Missing identity header.
    let r = env
        .http
        .get(&url)
        .query(&[
            ("resource", "https://vault.azure.net"),
            ("api-version", "2019-08-01"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r: Value = env
        .http
        .get(&url)
        .query(&[
            ("resource", "https://vault.azure.net"),
            ("api-version", "2019-08-01"),
        ])
        .header("X-IDENTITY-HEADER", "local-identity-header")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for f in [
        "access_token",
        "expires_on",
        "resource",
        "token_type",
        "client_id",
    ] {
        assert!(r[f].is_string(), "{f}: {r:?}");
    }
    assert!(r["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let c = claims(r["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://vault.azure.net");
    assert_eq!(c["oid"], "44444444-4444-4444-8444-444444444444");

    // Managed identity as a federated credential of the multi-tenant app (no secret anywhere).
    let r: Value = env
        .http
        .get(&url)
        .query(&[
            ("resource", "api://AzureADTokenExchange"),
            ("api-version", "2019-08-01"),
        ])
        .header("X-IDENTITY-HEADER", "local-identity-header")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let assertion = r["access_token"].as_str().unwrap();
    for tenant in [T1, T2] {
        let t = env
            .token_request(
                tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", APP),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion),
                    ("scope", ARM_SCOPE),
                ],
            )
            .await;
        assert_eq!(t.status, 200, "{:?}", t.body);
        assert_eq!(
            claims(t.body["access_token"].as_str().unwrap())["tid"],
            tenant
        );
    }
}

#[tokio::test]
async fn certificate_assertion_is_matched_by_thumbprint_and_its_rs256_signature_verified() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    // Test-only key generated with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER`.
    let der = include_bytes!("fixtures/test-only-rsa2048.pk8");
    let key = ring::signature::RsaKeyPair::from_pkcs8(der).unwrap();
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    let mut s = azure_sim::Scenario::seed();
    s.apps[0].certificates = vec![
        azure_sim::scenario::CertificateCredential {
            thumbprint: "with-key".into(),
            n: Some(b64.encode(&public.n)),
            e: Some(b64.encode(&public.e)),
        },
        azure_sim::scenario::CertificateCredential {
            thumbprint: "thumbprint-only".into(),
            n: None,
            e: None,
        },
    ];
    let env = Env::with(s).await;
    let now = azure_sim::jwt::now_unix();
    let unsigned = |thumb: &str| {
        let h = b64.encode(
            serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t#S256": thumb}).to_string(),
        );
        let p = b64.encode(serde_json::json!({"aud": format!("{}/{T1}/oauth2/v2.0/token", env.base), "iss": APP, "sub": APP, "jti": "1", "nbf": now, "exp": now + 600}).to_string());
        format!("{h}.{p}")
    };
    let sign = |input: &str| {
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", b64.encode(sig))
    };
    let exchange = |assertion: String| {
        let env = &env;
        async move {
            env.token_request(
                T1,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", APP),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                    ("scope", ARM_SCOPE),
                ],
            )
            .await
        }
    };
    let r = exchange(sign(&unsigned("with-key"))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Same thumbprint, wrong signature.
    let r = exchange(format!(
        "{}.{}",
        unsigned("with-key"),
        b64.encode([7u8; 256])
    ))
    .await;
    assert_aad_error(&r, 401, "invalid_client", 700027);
    // Thumbprint-only credentials are matched without a signature check (documented limitation).
    let r = exchange(format!("{}.c2ln", unsigned("thumbprint-only"))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = exchange(sign(&unsigned("unknown"))).await;
    assert_aad_error(&r, 401, "invalid_client", 700027);
}
