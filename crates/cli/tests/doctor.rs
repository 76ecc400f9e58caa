//! `doctor` finds each of the cross-tenant article's setup mistakes in the stand-in and names the
//! fix; `request --wait` ends the same mistakes with exit 1 and the handler's hint.

mod support;

use azure_sim::Scenario;
use azure_sim::scenario::Role;
use std::process::Output;
use support::*;

const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";

async fn doctor(env: &[(String, String)], extra: &[&str]) -> Output {
    let file = example();
    let mut args = vec!["doctor", "--file", file.as_str()];
    args.extend_from_slice(extra);
    cli(env, &args).await
}

/// The ✗ lines with their fixes.
fn failures(o: &Output) -> String {
    let (stdout, _) = text(o);
    let mut out = String::new();
    let mut lines = stdout.lines().peekable();
    while let Some(l) = lines.next() {
        if l.starts_with('✗') {
            out.push_str(l);
            out.push('\n');
            if let Some(f) = lines.peek().filter(|f| f.trim_start().starts_with("fix:")) {
                out.push_str(f);
                out.push('\n');
            }
        }
    }
    out
}

async fn request_wait(
    stack: &mut local_run::LocalStack,
    env: &[(String, String)],
    id: &str,
) -> Output {
    let file = example();
    cli_with_pump(
        stack,
        env,
        &[
            "request",
            "--file",
            &file,
            "--deployment-id",
            id,
            "--wait",
            "--timeout",
            "90s",
            "--poll",
            "200ms",
        ],
    )
    .await
}

#[tokio::test]
async fn a_correct_setup_passes_and_each_request_mistake_is_named() {
    let stack = stack(None).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    for line in [
        "✓ token in gallery tenant",
        "✓ token in target tenant",
        "✓ image version readable as tenant 1",
        "✓ replicated to the target region",
        "✓ target resource group",
        "✓ permissions in the target resource group",
        "✓ gallery allowed",
        "✓ target allowed",
    ] {
        assert!(stdout.contains(line), "{line} missing:\n{stdout}");
    }
    assert!(!stdout.contains('✗'), "{stdout}");

    // Region not targeted.
    let out = doctor(&env, &["--location", "eastus"]).await;
    assert_eq!(code(&out), 1);
    let f = failures(&out);
    assert!(
        f.contains("✗ replicated to the target region: the version does not replicate to eastus"),
        "{f}"
    );
    assert!(
        f.contains("fix: add eastus to the version's target regions"),
        "{f}"
    );

    // Target not in the deployed app's allow-list; resource group missing.
    let out = doctor(
        &env,
        &[
            "--allowed-targets",
            &format!("{T2}/cccccccc-cccc-4ccc-8ccc-cccccccccccc"),
            "--resource-group",
            "noSuchGroup",
        ],
    )
    .await;
    let f = failures(&out);
    assert!(f.contains("✗ target allowed"), "{f}");
    assert!(
        f.contains(
            "fix: add 22222222-2222-4222-8222-222222222222/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
        ),
        "{f}"
    );
    // ARM evaluates RBAC before existence: without a role at the subscription, a missing group
    // answers AuthorizationFailed, and the fix names both causes.
    assert!(f.contains("✗ target resource group: the app may not read /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/noSuchGroup (AuthorizationFailed)"), "{f}");
    assert!(f.contains("or the group does not exist"), "{f}");

    // A Windows password secret the app cannot read.
    let windows = VERSION.replace("myImageDefinition", "myWindowsImage");
    let secret = format!("{}/secrets/no-such-secret", stack.azure.base_url);
    let out = cli(
        &env,
        &[
            "doctor",
            "--deployment-id",
            "win-1",
            "--image",
            &windows,
            "--image-tenant",
            T1,
            "--target-tenant",
            T2,
            "--subscription",
            "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
            "--resource-group",
            "myResourceGroup",
            "--location",
            "southcentralus",
            "--vm-name",
            "win1",
            "--vm-size",
            "Standard_D2s_v5",
            "--admin-username",
            "azureadmin",
            "--admin-password-secret-id",
            &secret,
            "--allow-inbound-from",
            "203.0.113.0/24",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kv = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Key Vault secret readable")
        .expect("checked");
    assert_eq!(kv["ok"], false, "{kv}");
    assert!(
        kv["fix"]
            .as_str()
            .unwrap()
            .contains("Key Vault Secrets User"),
        "{kv}"
    );
    assert_eq!(report["ok"], false);
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn not_consented_in_the_target_tenant() {
    let mut scenario = Scenario::seed();
    scenario.apps[0].consented_tenants.retain(|t| t != T2);
    let mut stack = stack(Some(scenario)).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    assert_eq!(code(&out), 1);
    let f = failures(&out);
    assert!(
        f.contains(&format!(
            "✗ token in target tenant {T2}: AADSTS700016: app {APP} is not consented"
        )),
        "{f}"
    );
    assert!(
        f.contains(&format!("fix: an administrator of {T2} opens")),
        "{f}"
    );
    assert!(f.contains(&format!("client_id={APP}")), "{f}");
    assert!(text(&out).0.contains("✓ token in gallery tenant"));

    let out = request_wait(&mut stack, &env, "cli-consent").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("cli-consent  failed"), "{stdout}");
    assert!(
        stdout.contains("fix "),
        "the handler's hint is shown: {stdout}"
    );
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn reader_missing_on_the_gallery() {
    let mut scenario = Scenario::seed();
    scenario
        .role_assignments
        .retain(|ra| ra.role != Role::Reader);
    let mut stack = stack(Some(scenario)).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    assert_eq!(code(&out), 1);
    let f = failures(&out);
    assert!(f.contains("✗ image version readable as tenant 1"), "{f}");
    assert!(f.contains("Reader is missing"), "{f}");
    assert!(
        f.contains(&format!("--assignee {APP} --role Reader --scope {GALLERY}")),
        "{f}"
    );
    assert!(
        text(&out)
            .0
            .contains("✓ permissions in the target resource group")
    );

    let out = request_wait(&mut stack, &env, "cli-reader").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("cli-reader  failed"), "{stdout}");
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn contributor_missing_on_the_target_resource_group() {
    let mut scenario = Scenario::seed();
    scenario
        .role_assignments
        .retain(|ra| ra.role != Role::Contributor);
    let mut stack = stack(Some(scenario)).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    assert_eq!(code(&out), 1);
    let f = failures(&out);
    assert!(f.contains("✗ target resource group"), "{f}");
    assert!(f.contains("Contributor is missing"), "{f}");
    assert!(f.contains("✗ permissions in the target resource group: missing on /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup: Microsoft.Resources/subscriptions/resourceGroups/read"), "{f}");
    assert!(f.contains("Microsoft.Compute/virtualMachines/write"), "{f}");
    assert!(f.contains(&format!("--assignee {APP} --role Contributor --scope /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup")), "{f}");
    assert!(
        text(&out)
            .0
            .contains("✓ image version readable as tenant 1")
    );

    let out = request_wait(&mut stack, &env, "cli-contrib").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("cli-contrib  failed"), "{stdout}");
    let _ = stack.shutdown().await;
}
