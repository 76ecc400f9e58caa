//! No secret or token value appears in any Debug/Display output or log line.

mod common;

use azure_clients::models::{ImageReference, OsProfile, VirtualMachine, VirtualMachineProperties};
use azure_clients::*;
use common::{Answer, LogBuffer, MI_HEADER, MI_TOKEN, fake_entra, fake_server, json, vars};
use serde_json::json as j;
use std::sync::Arc;
use std::time::Duration;

const APP: &str = "33333333-3333-4333-8333-333333333333";
const T1: &str = "11111111-1111-4111-8111-111111111111";
const T2: &str = "22222222-2222-4222-8222-222222222222";
const BAD: &str = "aaaaaaaa-0000-4000-8000-00000000000b";
const CLIENT_SECRET: &str = "Client-S3cret~Value";
const SAS_KEY: &str = "U0FTLWtleS12YWx1ZS1mb3ItcmVkYWN0aW9u";
const KV_VALUE: &str = "Kv-S3cret-Value!";
const VM_PASSWORD: &str = "Vm-Adm1n-P@ss";

#[tokio::test]
async fn no_secret_in_debug_display_or_logs() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut printed: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = vec![
        CLIENT_SECRET.into(),
        SAS_KEY.into(),
        KV_VALUE.into(),
        VM_PASSWORD.into(),
        MI_HEADER.into(),
        MI_TOKEN.into(),
    ];
    macro_rules! show {
        ($($v:expr),+) => {{ $( printed.push(format!("{:?}", $v)); )+ }};
    }
    macro_rules! show_err {
        ($($v:expr),+) => {{ $( printed.push(format!("{:?} {}", $v, $v)); )+ }};
    }

    // Entra: secret credential, tokens for two tenants, an error.
    let (entra_base, entra) = fake_entra().await;
    entra.answers.lock().unwrap().insert(
        BAD.into(),
        Answer::Error(401, 7000215, "Invalid client secret provided."),
    );
    let endpoints_vars = [
        ("AZURE_AUTHORITY_HOST", entra_base.as_str()),
        ("AZURE_CLIENT_ID", APP),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let config = CredentialConfig::from_vars(vars(&endpoints_vars)).unwrap();
    show!(config);
    let provider = TokenProvider::from_vars(
        &Endpoints::from_vars(vars(&endpoints_vars)).unwrap(),
        vars(&endpoints_vars),
    )
    .unwrap();
    let tokens = Arc::new(provider);
    for t in [T1, T2] {
        let token = tokens
            .token(t, "https://management.azure.com/.default")
            .await
            .unwrap();
        secrets.push(token.token.expose().to_owned());
        show!(token, tokens);
    }
    let err = tokens
        .token(BAD, "https://management.azure.com/.default")
        .await
        .unwrap_err();
    show_err!(err);

    // Certificate and managed-identity-federated credentials.
    let cert = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/client-cert.pem"
    );
    let pem = std::fs::read_to_string(cert).unwrap();
    secrets.push(pem.lines().nth(5).unwrap().to_owned()); // a line of the private key
    let cert_tokens = TokenProvider::from_vars(
        &Endpoints::from_vars(vars(&endpoints_vars[..1])).unwrap(),
        vars(&[
            ("AZURE_CLIENT_ID", APP),
            ("AZURE_CLIENT_CERTIFICATE_PATH", cert),
        ]),
    )
    .unwrap();
    secrets.push(
        cert_tokens
            .token(T1, "https://vault.azure.net/.default")
            .await
            .unwrap()
            .token
            .expose()
            .to_owned(),
    );
    let mi_vars = [
        ("AZURE_CLIENT_ID", APP),
        (
            "IDENTITY_ENDPOINT",
            &*entra_base.join("msi/token").unwrap().to_string(),
        ),
        ("IDENTITY_HEADER", MI_HEADER),
    ]
    .map(|(k, v)| (k, v.to_owned()));
    let mi_vars: Vec<(&str, &str)> = mi_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mi_config = CredentialConfig::from_vars(vars(&mi_vars)).unwrap();
    show!(mi_config);
    let mi_tokens = TokenProvider::new(
        &Endpoints::from_vars(vars(&endpoints_vars[..1])).unwrap(),
        mi_config,
    )
    .unwrap();
    secrets.push(
        mi_tokens
            .token(T2, "https://servicebus.azure.net/.default")
            .await
            .unwrap()
            .token
            .expose()
            .to_owned(),
    );
    for r in entra.requests() {
        if let Some(a) = r.form.get("client_assertion") {
            secrets.push(a.clone());
        }
    }

    // ARM: a PUT with the auxiliary header, a retry, and an error.
    let (arm_base, arm_log) = fake_server(|r| match (r.method.as_str(), r.seen) {
        ("PUT", 0) => json(503, j!({}), &[("retry-after", "0".into())]),
        ("PUT", _) => json(
            403,
            j!({"error": {"code": "LinkedAuthorizationFailed", "message": "linked subscription"}}),
            &[],
        ),
        _ => json(200, j!({}), &[]),
    })
    .await;
    let arm_endpoints =
        Endpoints::from_vars(vars(&[("IMAGEFERRY_ARM_ENDPOINT", arm_base.as_str())])).unwrap();
    let arm = ArmClient::new(
        arm_endpoints.clone(),
        tokens.clone(),
        RetryPolicy {
            poll_interval: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
    );
    let vm = VirtualMachine {
        location: "southcentralus".into(),
        properties: VirtualMachineProperties {
            os_profile: Some(OsProfile::password(
                "vm",
                "azureuser",
                SecretString::new(VM_PASSWORD),
            )),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = arm
        .put::<_, serde_json::Value>(PutRequest {
            tenant: T2,
            aux_tenants: &[T1],
            path: "/subscriptions/bbbb/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
            api_version: "2025-04-01",
            body: &vm,
        })
        .await
        .unwrap_err();
    show_err!(err);
    show!(arm, vm, ImageReference::gallery("/x"));
    assert!(
        arm_log.lock().unwrap()[0].body.contains(VM_PASSWORD),
        "the body itself carries it"
    );

    // Service Bus with SAS, success and failure.
    let (sb_base, sb_log) = fake_server(|r| match r.path.as_str() {
        "/ok/messages" => json(201, j!({}), &[]),
        _ => json(401, j!({}), &[]),
    })
    .await;
    let cs = format!(
        "Endpoint=sb://127.0.0.1:{}/;SharedAccessKeyName=send;SharedAccessKey={SAS_KEY};UseDevelopmentEmulator=true",
        sb_base.port().unwrap()
    );
    let connection = ServiceBusConnection::parse(&cs).unwrap();
    show!(connection);
    let sender = ServiceBusSender::from_connection(connection);
    show!(sender);
    sender.send("ok", OutgoingMessage::default()).await.unwrap();
    let err = sender
        .send("denied", OutgoingMessage::default())
        .await
        .unwrap_err();
    show_err!(err);
    let auth = sb_log.lock().unwrap()[0].headers["authorization"].clone();
    let sig = auth
        .split("sig=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    secrets.push(sig.clone());
    secrets.push(
        url::form_urlencoded::parse(format!("s={sig}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned(),
    );

    // Key Vault.
    let (kv_base, _) = fake_server(|_| json(200, j!({"value": KV_VALUE}), &[])).await;
    let mut kv_endpoints = arm_endpoints.clone();
    kv_endpoints.keyvault_endpoint = Some(kv_base.clone());
    let kv = KeyVaultSecrets::new(&kv_endpoints, tokens.clone(), RetryPolicy::default());
    let value = kv.get(&format!("{kv_base}secrets/pw"), T1).await.unwrap();
    assert_eq!(value.expose(), KV_VALUE);
    show!(kv, value);
    printed.push(value.to_string());
    show!(SecretString::new(CLIENT_SECRET));

    // Now look.
    if std::env::var_os("SHOW_LOGS").is_some() {
        eprintln!("{}", logs.text());
    }
    drop(_guard);
    let log_text = logs.text();
    assert!(
        log_text.contains("Entra token request failed"),
        "logs were captured:\n{log_text}"
    );
    assert!(
        log_text.contains("retrying request"),
        "retries are logged:\n{log_text}"
    );
    assert!(secrets.len() >= 12);
    for secret in &secrets {
        assert!(
            secret.len() >= 8,
            "{secret:?} too short to be a meaningful check"
        );
        for p in &printed {
            assert!(
                !p.contains(secret.as_str()),
                "secret leaked in Debug/Display: {p}"
            );
        }
        assert!(
            !log_text.contains(secret.as_str()),
            "secret leaked in logs: {secret}"
        );
    }
}
