//! `plan` lists the calls the handler then really makes: the PUTs of a real run (recorded by
//! the stand-in) are the plan's PUTs, in the same order, and only the VM create carries the
//! auxiliary token. After the calls it runs `doctor`'s checks where credentials allow, and exits
//! 1 when one fails.

mod support;

use support::*;

#[tokio::test]
async fn the_plan_is_what_the_handler_does() {
    let mut stack = stack(None).await;
    let env = env(&stack);
    let file = example();
    let out = cli(
        &env,
        &[
            "plan",
            "--file",
            &file,
            "--deployment-id",
            "plan-1",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["imageFacts"], "read from the image definition");
    let calls = plan["calls"].as_array().unwrap();
    let planned_puts: Vec<String> = calls
        .iter()
        .filter(|c| c["method"] == "PUT")
        .map(|c| c["path"].as_str().unwrap().to_owned())
        .collect();
    let with_aux: Vec<&serde_json::Value> = calls
        .iter()
        .filter(|c| c.get("auxiliaryTenant").is_some())
        .collect();
    assert_eq!(with_aux.len(), 1, "{calls:#?}");
    assert!(
        with_aux[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("/virtualMachines/myVM")
    );
    assert_eq!(with_aux[0]["auxiliaryTenant"], T1);
    let nsg = calls
        .iter()
        .find(|c| c["path"].as_str().unwrap().ends_with("-nsg"))
        .unwrap();
    assert!(
        nsg["body"]
            .as_str()
            .unwrap()
            .contains("22 from 203.0.113.0/24"),
        "{nsg}"
    );
    // doctor's checks ran, as the app, and passed.
    assert_eq!(plan["checks"]["ok"], true, "{}", plan["checks"]);
    let names: Vec<&str> = plan["checks"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "image version readable as tenant 1",
        "replicated to the target region",
        "target resource group",
        "permissions in the target resource group",
        "gallery allowed",
        "target allowed",
    ] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }

    // The human form: the calls, then the checks.
    let out = cli(
        &env,
        &["plan", "--file", &file, "--deployment-id", "plan-1"],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("+ auxiliary token for {T1}")),
        "{stdout}"
    );
    let checks = stdout
        .split_once("checks (as `imageferry doctor`):\n")
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no checks after the calls: {stdout}"));
    assert!(
        checks.contains(&format!("✓ token in target tenant {T2}")),
        "{checks}"
    );
    assert!(
        checks.contains("✓ permissions in the target resource group"),
        "{checks}"
    );
    assert!(!checks.contains('✗'), "{checks}");

    // A check that fails makes the plan fail: the version does not replicate to eastus.
    let out = cli(
        &env,
        &[
            "plan",
            "--file",
            &file,
            "--deployment-id",
            "plan-1",
            "--location",
            "eastus",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("PUT /subscriptions/"),
        "the calls are still listed: {stdout}"
    );
    assert!(
        stdout.contains(
            "✗ replicated to the target region: the version does not replicate to eastus"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    fix: add eastus to the version's target regions"),
        "{stdout}"
    );

    // Now really run it and compare with the stand-in's request log.
    reqwest::Client::new()
        .delete(format!("{}/_sim/requests", stack.azure.base_url))
        .send()
        .await
        .unwrap();
    let out = cli_with_pump(
        &mut stack,
        &env,
        &[
            "request",
            "--file",
            &file,
            "--deployment-id",
            "plan-1",
            "--wait",
            "--timeout",
            "120s",
            "--poll",
            "200ms",
        ],
    )
    .await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let log: serde_json::Value = reqwest::get(format!("{}/_sim/requests", stack.azure.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = log
        .as_array()
        .or_else(|| log["requests"].as_array())
        .expect("a list of requests");
    let mut real_puts: Vec<String> = Vec::new();
    for r in records.iter().filter(|r| {
        r["method"] == "PUT"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/subscriptions/"))
            && r["status"].as_u64().is_some_and(|s| s < 300)
    }) {
        let p = r["path"].as_str().unwrap().to_owned();
        if !real_puts.contains(&p) {
            real_puts.push(p);
        }
        if p_aux(r) {
            assert!(
                r["path"]
                    .as_str()
                    .unwrap()
                    .ends_with("/virtualMachines/myVM"),
                "{r}"
            );
        }
    }
    assert_eq!(real_puts, planned_puts);
    let _ = stack.shutdown().await;
}

fn p_aux(r: &serde_json::Value) -> bool {
    r["aux_header"].as_bool().unwrap_or(false)
}

#[tokio::test]
async fn offline_plan_needs_no_credentials_and_rejects_an_invalid_request() {
    let file = example();
    let out = cli(
        &[],
        &[
            "plan",
            "--file",
            &file,
            "--offline",
            "--create-resource-group",
            "true",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(stdout.contains("PUT /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup "), "{stdout}");
    assert!(
        stdout.contains("checks skipped: --offline: no Azure call is made"),
        "{stdout}"
    );
    assert!(
        stdout.contains("address space 192.168.0.0/16; subnet myVM-subnet 192.168.1.0/24"),
        "{stdout}"
    );
    let out = cli(
        &[],
        &["plan", "--file", &file, "--offline", "--vm-size", ""],
    )
    .await;
    assert_eq!(code(&out), 2, "{:?}", text(&out));
}

#[tokio::test]
async fn without_an_app_credential_the_checks_are_skipped_and_say_why() {
    // No AZURE_CLIENT_ID and no Azure CLI on PATH: the image definition cannot be read and the
    // checks, which run as the app, are skipped; the plan itself still succeeds.
    let file = example();
    let env = [("PATH".to_owned(), "/nonexistent".to_owned())];
    let out = cli(&env, &["plan", "--file", &file]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("(image facts inferred from the request"),
        "{stdout}"
    );
    assert!(
        stdout.contains("checks skipped: no app credential is configured (AZURE_CLIENT_ID"),
        "{stdout}"
    );
    assert!(!stdout.contains('✓') && !stdout.contains('✗'), "{stdout}");
    let out = cli(&env, &["plan", "--file", &file, "--output", "json"]).await;
    assert_eq!(code(&out), 0, "{:?}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        plan["checks"]["skipped"]
            .as_str()
            .unwrap()
            .starts_with("no app credential is configured"),
        "{plan}"
    );
}

#[tokio::test]
async fn a_missing_permission_fails_the_plan() {
    let mut scenario = azure_sim::Scenario::seed();
    scenario
        .role_assignments
        .retain(|ra| ra.role != azure_sim::scenario::Role::Contributor);
    let stack = stack(Some(scenario)).await;
    let env = env(&stack);
    let file = example();
    let out = cli(&env, &["plan", "--file", &file, "--output", "json"]).await;
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["checks"]["ok"], false);
    assert!(!plan["calls"].as_array().unwrap().is_empty(), "{plan}");
    let perms = plan["checks"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "permissions in the target resource group")
        .expect("checked");
    assert_eq!(perms["ok"], false, "{perms}");
    assert!(
        perms["fix"]
            .as_str()
            .unwrap()
            .contains("--template-file infra/target/main.bicep"),
        "{perms}"
    );
    assert!(
        perms["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["action"] == "Microsoft.Compute/virtualMachines/write"),
        "{perms}"
    );
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn a_scale_set_plan_names_its_calls_and_the_auxiliary_token_on_image_writes_only() {
    let file = example();
    let out = cli(
        &[],
        &[
            "plan",
            "--file",
            &file,
            "--offline",
            "--scale-set",
            "web-fleet",
            "--capacity",
            "4",
            "--batch-percent",
            "25",
            "--health-protocol",
            "http",
            "--health-path",
            "/health",
            "--output",
            "json",
        ],
    )
    .await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    let plan: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let calls = plan["calls"].as_array().unwrap();
    let writes: Vec<(String, bool)> = calls
        .iter()
        .filter(|c| c["method"] != "GET")
        .map(|c| {
            let path = c["path"].as_str().unwrap();
            (
                format!(
                    "{} {}",
                    c["method"].as_str().unwrap(),
                    path.rsplit('/').next().unwrap()
                ),
                c.get("auxiliaryTenant").is_some(),
            )
        })
        .collect();
    let expected: Vec<(String, bool)> = [
        ("PUT web-fleet-vnet", false),
        ("PUT web-fleet-nsg", false),
        ("PUT web-fleet", true),
        ("PATCH web-fleet", true),
        ("POST manualupgrade", false),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), *b))
    .collect();
    assert_eq!(writes, expected);
    let put = calls
        .iter()
        .find(|c| c["method"] == "PUT" && c["path"].as_str().unwrap().ends_with("/web-fleet"))
        .unwrap();
    let body = put["body"].as_str().unwrap();
    assert!(body.starts_with("Uniform, 4 x Standard_D2s_v5"), "{body}");
    assert!(
        body.contains("ApplicationHealthLinux health probe http/health"),
        "{body}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with(
                "/virtualMachineScaleSets/web-fleet/virtualMachines?$expand=instanceView"
            )),
        "{stdout}"
    );
    // No VM, NIC or public IP resource for a scale set.
    assert!(
        !calls.iter().any(|c| {
            let p = c["path"].as_str().unwrap();
            p.contains("/virtualMachines/")
                || p.contains("/networkInterfaces/")
                || p.contains("/publicIPAddresses/")
        }),
        "{stdout}"
    );
}
