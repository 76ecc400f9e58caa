//! `doctor` finds each of the cross-tenant article's setup mistakes in the stand-in and names the
//! fix; `request --wait` ends the same mistakes with exit 1 and the handler's hint.

mod support;

use azure_sim::Scenario;
use azure_sim::scenario::{CustomRole, Role, RoleAssignment};
use std::collections::BTreeSet;
use std::process::Output;
use support::*;

const GALLERY: &str = "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery";
const SUB2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const RG2: &str =
    "/subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup";

/// The `az deployment sub create` of infra/target/main.bicep doctor names for the example's
/// target, up to its optional parameters.
fn deploy_fix(rg: &str) -> String {
    format!(
        "signed in to tenant {T2} (az login --tenant {T2}): az deployment sub create --name imageferry-target --subscription {SUB2} --location southcentralus --template-file infra/target/main.bicep --parameters targetResourceGroup={rg} appServicePrincipalObjectId=$(az ad sp show --id {APP} --query id -o tsv)"
    )
}

/// The actions of role list `name` in infra/target/actions.json (which infra/target/main.bicep
/// reads with loadJsonContent), in order.
fn role_actions(name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("infra/target/actions.json")).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    serde_json::from_value(file[name].clone())
        .unwrap_or_else(|e| panic!("infra/target/actions.json has no list {name}: {e}"))
}

/// The default scenario with the app's Contributor on myResourceGroup replaced by infra/target/
/// main.bicep's *imageferry VM deployer* role with `actions`.
fn least_privilege(actions: Vec<String>) -> Scenario {
    let mut s = Scenario::seed();
    s.role_assignments.retain(|ra| ra.role != Role::Contributor);
    let name = format!("imageferry VM deployer ({SUB2})");
    s.custom_roles.push(CustomRole {
        name: name.clone(),
        actions,
        not_actions: Vec::new(),
    });
    s.role_assignments.push(RoleAssignment {
        principal: APP.into(),
        role: Role::Custom(name),
        scope: RG2.into(),
    });
    s
}

/// Per role of infra/target/main.bicep, the actions the permission lines of a JSON report checked.
fn checked_actions(report: &serde_json::Value, into: &mut [(&str, BTreeSet<String>)]) {
    for c in report["checks"].as_array().unwrap() {
        let Some(role) = c["role"].as_str() else {
            continue;
        };
        let set = into
            .iter_mut()
            .find(|(r, _)| *r == role)
            .unwrap_or_else(|| panic!("unknown role {role}"));
        for a in c["actions"].as_array().unwrap() {
            set.1.insert(a.as_str().unwrap().to_owned());
        }
    }
}

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
    assert!(
        f.contains("the imageferry VM deployer role (or Contributor) is missing there"),
        "{f}"
    );
    assert!(f.contains("✗ permissions in the target resource group: missing on /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup: Microsoft.Resources/subscriptions/resourceGroups/read"), "{f}");
    assert!(f.contains("Microsoft.Compute/virtualMachines/write"), "{f}");
    // The fix is the least-privilege role of infra/target/main.bicep, deployed as
    // docs/ONBOARDING.md step 4 does; Contributor only as the fallback.
    assert!(f.contains(&deploy_fix("myResourceGroup")), "{f}");
    assert!(f.contains(&format!("or, as a fallback, the built-in Contributor: az role assignment create --assignee {APP} --role Contributor --scope /subscriptions/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/resourceGroups/myResourceGroup")), "{f}");
    let onboarding = std::fs::read_to_string(repo().join("docs/ONBOARDING.md")).unwrap();
    assert!(
        onboarding.contains(
            "az deployment sub create --name imageferry-target --location southcentralus \\\n  --template-file infra/target/main.bicep \\\n  --parameters targetResourceGroup=\"$TARGET_RG\" appServicePrincipalObjectId=\"$SP_T2\""
        ),
        "docs/ONBOARDING.md step 4 deploys the same template with the same parameters"
    );
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

#[tokio::test]
async fn the_bicep_roles_hold_exactly_the_actions_doctor_checks() {
    let stack = stack(None).await;
    let env = env(&stack);
    let file = example();
    let mut checked = [
        ("deployer", BTreeSet::new()),
        ("resourceGroupCreator", BTreeSet::new()),
        ("sharedImageReader", BTreeSet::new()),
        ("marketplaceTermsReader", BTreeSet::new()),
    ];
    // The example builds its own network with a public IP: every deployer action a VM needs;
    // as a scale set the scale set's; with --create-resource-group the creator's too; shared
    // and community images the reader's.
    let shared = "/SharedGalleries/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa-MYGALLERY/Images/myImageDefinition/Versions/1.0.0";
    let community =
        "/CommunityGalleries/myGalleryPublic-0a1b2c3d/Images/myImageDefinition/Versions/1.0.0";
    // An image built from a Marketplace image (purchasePlan): the terms reader's.
    let marketplace = VERSION.replace("myImageDefinition", "myMarketplaceImage");
    for extra in [
        &["--create-resource-group", "true"][..],
        &["--image", shared][..],
        &["--image", community][..],
        &["--image", marketplace.as_str()][..],
        // A scale set (the VM example as a scale set): the scale-set actions, in batches and
        // rolling.
        &["--scale-set", "web-fleet", "--capacity", "2"][..],
        &[
            "--scale-set",
            "web-fleet",
            "--capacity",
            "2",
            "--upgrade",
            "rolling",
            "--health-protocol",
            "http",
            "--health-path",
            "/health",
        ][..],
    ] {
        let mut args = vec!["doctor", "--file", file.as_str(), "--output", "json"];
        args.extend_from_slice(extra);
        let out = cli(&env, &args).await;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{extra:?}: {e}: {:?}", text(&out)));
        checked_actions(&report, &mut checked);
    }
    for (role, var) in [
        ("deployer", "deployerActions"),
        ("resourceGroupCreator", "resourceGroupCreatorActions"),
        ("sharedImageReader", "sharedImageReaderActions"),
        ("marketplaceTermsReader", "marketplaceTermsReaderActions"),
    ] {
        let listed = role_actions(var);
        let unique: BTreeSet<String> = listed.iter().cloned().collect();
        assert_eq!(unique.len(), listed.len(), "{var} lists an action twice");
        let doctor = &checked.iter().find(|(r, _)| *r == role).unwrap().1;
        assert_eq!(
            &unique, doctor,
            "infra/target/actions.json {var} (left) and doctor's {role} actions (right) differ"
        );
    }
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn the_least_privilege_role_passes_doctor_and_deploys() {
    let mut stack = stack(Some(least_privilege(role_actions("deployerActions")))).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert!(!stdout.contains('✗'), "{stdout}");
    assert!(stdout.contains(&format!("✓ permissions in the target resource group: the 21 actions the pipeline needs here (deployerActions) on {RG2}")), "{stdout}");

    // Creating resource groups needs the creator role at the subscription, which is not there.
    let out = doctor(&env, &["--create-resource-group", "true"]).await;
    assert_eq!(code(&out), 1);
    let f = failures(&out);
    assert!(f.contains(&format!("✗ permissions to create the resource group: missing on /subscriptions/{SUB2}: Microsoft.Resources/subscriptions/resourceGroups/read, Microsoft.Resources/subscriptions/resourceGroups/write")), "{f}");
    assert!(
        f.contains(&format!(
            "{} createTargetResourceGroup=false allowCreateResourceGroup=true;",
            deploy_fix("myResourceGroup")
        )),
        "{f}"
    );

    // The same role is enough for a real deployment through the stand-in, which checks every
    // write and the linked joins (subnet, NSG, public IP, NIC).
    let out = request_wait(&mut stack, &env, "least-privilege").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("least-privilege  succeeded"), "{stdout}");
    let _ = stack.shutdown().await;
}

#[tokio::test]
async fn a_role_missing_one_action_is_named() {
    const NIC_JOIN: &str = "Microsoft.Network/networkInterfaces/join/action";
    let actions: Vec<String> = role_actions("deployerActions")
        .into_iter()
        .filter(|a| a != NIC_JOIN)
        .collect();
    let mut stack = stack(Some(least_privilege(actions))).await;
    let env = env(&stack);
    let out = doctor(&env, &[]).await;
    assert_eq!(code(&out), 1, "{:?}", text(&out));
    let f = failures(&out);
    assert!(
        f.contains(&format!(
            "✗ permissions in the target resource group: missing on {RG2}: {NIC_JOIN}\n"
        )),
        "{f}"
    );
    assert!(
        f.contains(&format!(
            "fix: {} createTargetResourceGroup=false;",
            deploy_fix("myResourceGroup")
        )),
        "{f}"
    );
    assert_eq!(f.matches('✗').count(), 1, "only the permissions line: {f}");

    // The handler's VM PUT is refused for the same action.
    let out = request_wait(&mut stack, &env, "no-nic-join").await;
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("no-nic-join  failed"), "{stdout}");
    assert!(stdout.contains("LinkedAuthorizationFailed"), "{stdout}");
    let _ = stack.shutdown().await;
}
