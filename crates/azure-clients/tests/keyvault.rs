//! Key Vault secrets against a fake vault.

mod common;

use azure_clients::{Cloud, Endpoints, KeyVaultError, KeyVaultSecrets, RetryPolicy};
use common::{arm_error, fake_server, json, static_tokens};
use serde_json::json as j;
use std::time::Duration;

const T1: &str = "11111111-1111-4111-8111-111111111111";

fn secrets(cloud: Cloud) -> KeyVaultSecrets {
    let retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        ..RetryPolicy::default()
    };
    KeyVaultSecrets::new(&Endpoints::for_cloud(cloud), static_tokens(), retry)
}

#[tokio::test]
async fn reads_a_secret_with_a_tenant_token() {
    let (base, log) = fake_server(|r| match r.path.as_str() {
        "/secrets/vm-admin-password" => json(200, j!({"value": "Adm1n-P@ssw0rd!", "id": format!("{}/secrets/vm-admin-password/abc", r.origin()), "attributes": {"enabled": true}}), &[]),
        "/secrets/denied" => arm_error(403, "Forbidden", "Caller is not authorized to perform action on resource."),
        // Key Vault's 403 bodies carry the reason in `innererror.code`.
        "/secrets/firewalled" => json(403, j!({"error": {"code": "Forbidden", "message": "Client address is not authorized and caller is not a trusted service.", "innererror": {"code": "ForbiddenByFirewall"}}}), &[]),
        "/secrets/policy" => json(403, j!({"error": {"code": "Forbidden", "message": "The user, group or application does not have secrets get permission.", "innererror": {"code": "AccessDenied"}}}), &[]),
        _ => arm_error(404, "SecretNotFound", "A secret with (name/id) x was not found in this key vault."),
    })
    .await;
    // A loopback vault is reachable only as the explicitly configured stand-in.
    let refused = secrets(Cloud::Public)
        .get(&format!("{base}secrets/vm-admin-password"), T1)
        .await;
    assert!(
        matches!(refused, Err(KeyVaultError::UntrustedSecretId { .. })),
        "{refused:?}"
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "no token reached a loopback port"
    );
    let mut endpoints = Endpoints::for_cloud(Cloud::Public);
    endpoints.keyvault_endpoint = Some(base.clone());
    let kv = KeyVaultSecrets::new(
        &endpoints,
        static_tokens(),
        RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
    );
    let value = kv
        .get(&format!("{base}secrets/vm-admin-password"), T1)
        .await
        .unwrap();
    assert_eq!(value.expose(), "Adm1n-P@ssw0rd!");
    assert!(!format!("{value:?} {value}").contains("Adm1n"));
    {
        let log = log.lock().unwrap();
        assert_eq!(log[0].query, "api-version=7.4");
        assert_eq!(log[0].headers["authorization"], format!("Bearer t-{T1}"));
    }
    let e = kv
        .get(&format!("{base}secrets/denied"), T1)
        .await
        .unwrap_err();
    assert!(matches!(e, KeyVaultError::Forbidden { status: 403, .. }));
    assert!(e.to_string().contains("Key Vault Secrets User"));
    assert!(!e.is_transient());
    // The hint follows the reason Key Vault gave.
    let firewalled = kv
        .get(&format!("{base}secrets/firewalled"), T1)
        .await
        .unwrap_err();
    let hint = firewalled.hint().unwrap();
    assert!(
        hint.contains("firewall") && !hint.contains("Secrets User"),
        "{hint}"
    );
    let policy = kv
        .get(&format!("{base}secrets/policy"), T1)
        .await
        .unwrap_err();
    assert!(policy.hint().unwrap().contains("access policies"));
    let missing = kv
        .get(&format!("{base}secrets/nope"), T1)
        .await
        .unwrap_err();
    assert!(missing.hint().unwrap().contains("no such secret"));
    assert!(matches!(
        kv.get(&format!("{base}secrets/nope"), T1).await,
        Err(KeyVaultError::NotFound { .. })
    ));
}

#[tokio::test]
async fn secret_ids_outside_the_clouds_vault_suffix_are_refused() {
    let kv = secrets(Cloud::Public);
    for id in [
        "https://evil.example.com/secrets/x",
        "https://myvault.vault.azure.net.evil.com/secrets/x",
        "http://myvault.vault.azure.net/secrets/x",
        "https://myvault.vault.azure.net:8443/secrets/x",
        "https://myvault.vault.azure.net/keys/x",
        "https://.vault.azure.net/secrets/x",
        "https://a.b.vault.azure.net/secrets/x",
        "https://myvault.vault.azure.net/secrets/../keys/x",
        "https://myvault.vault.azure.net/secrets/%2e%2e/x",
        "https://myvault.vault.azure.net/secrets/x?y=1",
        "https://u@myvault.vault.azure.net/secrets/x",
        "http://127.0.0.1:1/secrets/x",
        "not a url",
    ] {
        assert!(
            matches!(
                kv.get(id, T1).await,
                Err(KeyVaultError::UntrustedSecretId { .. })
            ),
            "{id}"
        );
    }
    let gov = secrets(Cloud::UsGovernment);
    assert!(matches!(
        gov.get("https://myvault.vault.azure.net/secrets/x", T1)
            .await,
        Err(KeyVaultError::UntrustedSecretId { .. })
    ));
}

#[tokio::test]
async fn a_vault_that_does_not_resolve_is_permanent_and_named() {
    let kv = secrets(Cloud::Public);
    let started = std::time::Instant::now();
    let e = kv
        .get("https://imageferry-nx-7f3a9c.vault.azure.net/secrets/x", T1)
        .await
        .unwrap_err();
    if e.to_string()
        .contains("Temporary failure in name resolution")
    {
        eprintln!("skipped: this machine's resolver does not answer ({e})");
        return;
    }
    assert!(!e.is_transient(), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "not retried");
    let hint = e.hint().unwrap();
    assert!(
        hint.contains("imageferry-nx-7f3a9c.vault.azure.net does not resolve"),
        "{hint}"
    );
}
