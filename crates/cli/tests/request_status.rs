//! `request`, `status`, `send`, `wait-replicated` and `consent-url` through the real binaries
//! against the local stack.

mod support;

use support::*;

#[tokio::test]
async fn request_wait_status_and_the_failing_paths() {
    let mut stack = stack(None).await;
    let env = env(&stack);

    // A pipeline sends and gates on the outcome.
    let out = cli_with_pump(
        &mut stack,
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "cli-ok",
            "--wait",
            "--timeout",
            "120s",
            "--poll",
            "200ms",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert!(stdout.starts_with("cli-ok  succeeded"), "{stdout}");
    assert!(stdout.contains("/virtualMachines/myVM"), "{stdout}");
    assert!(
        stderr.contains("provisioning (image-version-replicated)")
            || stderr.contains("waiting-for-replication"),
        "{stderr}"
    );

    // Its timeline.
    let out = cli(&env, &["status", "cli-ok"]).await;
    let (stdout, _) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}");
    let statuses = timeline_statuses(&stdout);
    assert_eq!(statuses.first(), Some(&"accepted"), "{stdout}");
    assert_eq!(statuses.last(), Some(&"succeeded"), "{stdout}");
    assert!(stdout.contains(&format!("tenant {T2}")), "{stdout}");

    // "Which tenants got version 1.0.0?" as JSON.
    let out = cli(
        &env,
        &["status", "--image-version", "1.0.0", "--output", "json"],
    )
    .await;
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["deploymentId"], "cli-ok");
    assert_eq!(list[0]["targetTenantId"], T2);
    let out = cli(
        &env,
        &["status", "--image-version", "9.9.9", "--output", "json"],
    )
    .await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );

    // Region not targeted: the handler rejects it, the CLI exits 2 with the fix.
    let out = cli_with_pump(
        &mut stack,
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "cli-region",
            "--location",
            "eastus",
            "--wait",
            "--timeout",
            "60s",
            "--poll",
            "200ms",
            "--output",
            "json",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 2, "{stdout}\n{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["status"], "rejected");
    assert_eq!(status["error"]["code"], "RegionNotTargeted");

    // A wait that times out (nothing delivers the message): exit 3, the last status named.
    let out = cli(
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "cli-slow",
            "--wait",
            "--timeout",
            "1s",
            "--poll",
            "200ms",
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(
        stderr.contains("timed out waiting for cli-slow"),
        "{stderr}"
    );

    // Invalid locally: rejected (2) with every problem, nothing sent.
    let before = stack.bus.all().len();
    let out = cli(
        &env,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "Not_Valid",
            "--allow-inbound-from",
            "300.1.1.1/8",
        ],
    )
    .await;
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("deploymentId"), "{stderr}");
    assert!(stderr.contains("network.allowInboundFrom"), "{stderr}");
    assert_eq!(stack.bus.all().len(), before);

    // --wait without a status store configured: a configuration error (4) before sending.
    let no_store: Vec<_> = env
        .iter()
        .filter(|(k, _)| k != "IMAGEFERRY_STATUS_TABLE_ENDPOINT")
        .cloned()
        .collect();
    let out = cli(
        &no_store,
        &[
            "request",
            "--file",
            &example(),
            "--deployment-id",
            "cli-x",
            "--wait",
        ],
    )
    .await;
    assert_eq!(code(&out), 4);
    assert!(text(&out).1.contains("IMAGEFERRY_STATUS_TABLE_ENDPOINT"));
    assert_eq!(stack.bus.all().len(), before);

    // send: a message of the contract, decoded first; an unknown entity is refused.
    let out = cli(
        &env,
        &[
            "send",
            "deployment-requested",
            &example(),
            "--message-id",
            "m-1",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let sent = stack.bus.sent("deployment-requested");
    assert!(
        sent.iter()
            .any(|m| m.broker.message_id.as_deref() == Some("m-1")),
        "{sent:?}"
    );
    let out = cli(&env, &["send", "vm-provisioning", &example()]).await;
    assert_eq!(
        code(&out),
        2,
        "a request is not a vm-provisioning message: {:?}",
        text(&out)
    );
    // A misspelled entity is a usage error (issue 22), not a rejected message.
    let out = cli(&env, &["send", "nonsense", &example()]).await;
    assert_eq!(code(&out), 4, "{:?}", text(&out));

    // The rollout entities, without --raw: the Event Grid event of a version write, and a
    // rollout check; anything else is refused before sending.
    let reference =
        std::fs::read_to_string(repo().join("reference/eventgrid/resource-write-success.json"))
            .unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&reference).unwrap();
    event[0]["subject"] = VERSION.into();
    event[0]["data"]["operationName"] = "Microsoft.Compute/galleries/images/versions/write".into();
    let dir = std::env::temp_dir().join(format!("imageferry-send-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let published = dir.join("published.json");
    std::fs::write(&published, event.to_string()).unwrap();
    let storage = dir.join("storage.json");
    std::fs::write(&storage, &reference).unwrap();
    let check = dir.join("check.json");
    std::fs::write(
        &check,
        serde_json::json!({"rollout": "web", "versionId": VERSION, "ring": 1,
            "ringStartedAt": "2026-12-01T10:00:00Z", "attempt": 1})
        .to_string(),
    )
    .unwrap();
    let published = published.display().to_string();
    let storage = storage.display().to_string();
    let check = check.display().to_string();
    let out = cli(
        &env,
        &[
            "send",
            "image-version-published",
            &published,
            "--message-id",
            "p-1",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let out = cli(
        &env,
        &["send", "rollout-check", &check, "--message-id", "c-1"],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    for (entity, id) in [("image-version-published", "p-1"), ("rollout-check", "c-1")] {
        assert!(
            stack
                .bus
                .sent(entity)
                .iter()
                .any(|m| m.broker.message_id.as_deref() == Some(id)),
            "{entity}"
        );
    }
    let before = stack.bus.all().len();
    let out = cli(&env, &["send", "image-version-published", &storage]).await;
    let (_, stderr) = text(&out);
    assert_eq!(code(&out), 2, "a storage account write: {stderr}");
    assert!(stderr.contains("not Microsoft.Resources.ResourceWriteSuccess / Microsoft.Compute/galleries/images/versions/write"), "{stderr}");
    let out = cli(&env, &["send", "rollout-check", &published]).await;
    assert_eq!(
        code(&out),
        2,
        "an event is not a rollout check: {:?}",
        text(&out)
    );
    assert_eq!(stack.bus.all().len(), before, "nothing refused was sent");
    let _ = std::fs::remove_dir_all(&dir);

    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn wait_replicated_reads_the_gallery() {
    let stack = stack(None).await;
    let env = env(&stack);
    // South Central US replicates in 120 simulated seconds (2 s at scale 60).
    let out = cli(
        &env,
        &[
            "wait-replicated",
            VERSION,
            "--region",
            "southcentralus",
            "--timeout",
            "60s",
            "--poll",
            "300ms",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    assert!(text(&out).0.contains("replicated to southcentralus"));
    // Not a target region: exit 1 with the fix.
    let out = cli(
        &env,
        &[
            "wait-replicated",
            VERSION,
            "--region",
            "eastus",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "not-targeted");
    assert!(v["message"].as_str().unwrap().contains("South Central US"));
    // West US 2 takes 600 s (10 s): a 1 s timeout ends with 3.
    let out = cli(
        &env,
        &[
            "wait-replicated",
            VERSION,
            "--region",
            "westus2",
            "--timeout",
            "1s",
            "--poll",
            "200ms",
        ],
    )
    .await;
    assert_eq!(code(&out), 3, "{:?}", text(&out));
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn consent_url_validates_the_tenant_and_the_app() {
    let env = vec![("AZURE_CLIENT_ID".to_owned(), APP.to_owned())];
    let out = cli(&env, &["consent-url", "--tenant", T2]).await;
    assert_eq!(code(&out), 0);
    assert_eq!(
        text(&out).0.trim(),
        format!(
            "https://login.microsoftonline.com/{T2}/oauth2/authorize?client_id={APP}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F"
        )
    );
    let out = cli(
        &env,
        &[
            "consent-url",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&out), 0);
    for bad in ["not a tenant", "common", "x.com/../evil"] {
        let out = cli(&env, &["consent-url", "--tenant", bad]).await;
        assert_eq!(code(&out), 4, "{bad}");
    }
    let out = cli(&[], &["consent-url", "--tenant", T2, "--app", "myapp"]).await;
    assert_eq!(code(&out), 4);
}
