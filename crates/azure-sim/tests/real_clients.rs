//! Drives the stand-in over TLS with Microsoft's own Azure SDK for Python
//! (`tests/real-clients/sdk_calls.py`, pinned versions in its `requirements.txt`): every call
//! the script makes must be answered as Azure answers it, or the script, and this test, fail.
//!
//! The Python comes from `IMAGEFERRY_SDK_PYTHON` (the venv `.ci/run` creates with
//! `scripts/real-clients-venv.sh`). Without it the test says so and passes, unless `CI` is set:
//! then a missing interpreter fails it.

use std::path::PathBuf;
use std::process::Command;

use azure_sim::Scenario;
use azure_sim::scenario::{
    KeyVaultSeed, ResourceGroupSeed, Role, RoleAssignment, SecretSeed, VaultRole,
    VaultRoleAssignment,
};

const SUB2: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const APP: &str = "33333333-3333-4333-8333-333333333333";

fn scenario() -> Scenario {
    let mut s = Scenario::seed();
    let officer = |name: &str, role: VaultRole| KeyVaultSeed {
        name: name.to_owned(),
        role_assignments: vec![VaultRoleAssignment {
            principal: APP.to_owned(),
            role,
            scope: String::new(),
        }],
        ..KeyVaultSeed::default()
    };
    s.key_vaults
        .push(officer("kv-officer", VaultRole::SecretsOfficer));
    let mut reader = officer("kv-reader", VaultRole::SecretsUser);
    reader.secrets.push(SecretSeed {
        name: "greeting".to_owned(),
        value: "hello".to_owned(),
        readers: Vec::new(),
    });
    s.key_vaults.push(reader);
    s.resource_groups.push(ResourceGroupSeed {
        subscription: SUB2.to_owned(),
        name: "sdk-rg".to_owned(),
        location: "southcentralus".to_owned(),
    });
    s.role_assignments.push(RoleAssignment {
        principal: APP.to_owned(),
        role: Role::Contributor,
        scope: format!("/subscriptions/{SUB2}/resourceGroups/sdk-rg"),
    });
    // Small pages, so the SDK's pagers follow nextLink.
    s.arm.page_size = 2;
    // Minutes of simulated LRO time pass in seconds.
    s.faults.time_scale = 60.0;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_azure_sdk_for_python_gets_azures_answers() {
    let Some(python) = std::env::var_os("IMAGEFERRY_SDK_PYTHON").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but IMAGEFERRY_SDK_PYTHON is not: .ci/run creates the venv with scripts/real-clients-venv.sh"
        );
        eprintln!(
            "skipped: set IMAGEFERRY_SDK_PYTHON (scripts/real-clients-venv.sh prints it) to run the Azure SDK for Python against azure-sim"
        );
        return;
    };
    let sim = azure_sim::start_with_tls(
        scenario(),
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("sim starts");
    let dir = std::env::temp_dir().join(format!("azure-sim-real-clients-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.tls_ca_pem().unwrap()).unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/real-clients/sdk_calls.py");
    let url = sim.tls_base_url().unwrap();
    let ssh_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKyiinc6wQKRbC+Zzt4G7JXBkjyT7q/yAgHzE32O23Ej local@imageferry";
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .env("SIM_URL", &url)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .env("SSL_CERT_FILE", &ca)
            .env("SIM_SSH_KEY", ssh_key)
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_CLIENT_SECRET")
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "the Azure SDK for Python got answers Azure would not give:\n{}\n{stderr}",
        stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" passed, 0 failed"), "{summary}");
    sim.shutdown().await;
}
