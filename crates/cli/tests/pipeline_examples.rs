//! The pipeline examples under `examples/` parse (YAML, HCL, TOML), and every `imageferry`
//! invocation in them names a subcommand and flags that the CLI's clap definition has (read from
//! `imageferry <subcommand> --help` of the binary built from this crate). Every job downloads the
//! release binary that `examples/github-actions/release.yml` publishes (built by
//! `scripts/package.sh --cli-only`, whose archive is checked here too) instead of compiling it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use imageferry_contract::rollout::RolloutConfig;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every string in a YAML document (scripts live in `run:`, `script:` and `inlineScript:`).
fn yaml_strings(value: &serde_norway::Value, out: &mut Vec<String>) {
    match value {
        serde_norway::Value::String(s) => out.push(s.clone()),
        serde_norway::Value::Sequence(items) => items.iter().for_each(|v| yaml_strings(v, out)),
        serde_norway::Value::Mapping(map) => map.values().for_each(|v| yaml_strings(v, out)),
        serde_norway::Value::Tagged(t) => yaml_strings(&t.value, out),
        _ => {}
    }
}

/// Every string literal in an HCL body (the post-processor's `inline` commands among them).
fn hcl_strings(body: &hcl::Body, out: &mut Vec<String>) {
    for attr in body.attributes() {
        hcl_expr_strings(&attr.expr, out);
    }
    for block in body.blocks() {
        hcl_strings(&block.body, out);
    }
}

fn hcl_expr_strings(expr: &hcl::Expression, out: &mut Vec<String>) {
    match expr {
        hcl::Expression::String(s) => out.push(s.clone()),
        hcl::Expression::TemplateExpr(t) => out.push(t.to_string()),
        hcl::Expression::Array(items) => items.iter().for_each(|e| hcl_expr_strings(e, out)),
        _ => {}
    }
}

/// The `imageferry …` commands in a script: continuation lines joined; `imageferry` in command
/// position (first word of a line or after `;`, `&&`, `||`, `|`, `then`, `do`, `$(`); each command
/// up to a shell operator, as (subcommand, flags). Text such as a step named "Install imageferry"
/// is not a command.
fn invocations(script: &str) -> Vec<(String, Vec<String>)> {
    let joined = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in joined.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            let command_position = i == 0
                || matches!(words[i - 1], ";" | "&&" | "||" | "|" | "then" | "do" | "$(")
                || words[i - 1].ends_with(';');
            if *w != "imageferry" || !command_position {
                continue;
            }
            let mut sub = None;
            let mut flags = Vec::new();
            for word in &words[i + 1..] {
                if matches!(*word, "|" | "||" | "&&" | ";" | ">" | ">>" | "2>&1")
                    || word.ends_with(';')
                {
                    break;
                }
                if let Some(flag) = word.strip_prefix("--") {
                    flags.push(format!("--{}", flag.split('=').next().unwrap()));
                } else if word.starts_with('-') && word.len() == 2 {
                    flags.push(word.to_string());
                } else if sub.is_none() {
                    sub = Some(word.to_string());
                }
            }
            found.push((sub.expect("a subcommand after imageferry"), flags));
        }
    }
    found
}

/// The long and short flags `imageferry <sub> --help` lists; panics if the subcommand is unknown.
fn known_flags(sub: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_imageferry"))
        .args([sub, "--help"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imageferry {sub} is not a subcommand: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    let mut flags = BTreeSet::new();
    for word in help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']') {
        let word = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if word.starts_with("--") && word.len() > 2 || word.starts_with('-') && word.len() == 2 {
            flags.insert(word.to_string());
        }
    }
    flags
}

fn check_invocations(file: &str, scripts: &[String]) -> usize {
    let mut count = 0;
    for script in scripts {
        for (sub, flags) in invocations(script) {
            let known = known_flags(&sub);
            for flag in flags {
                assert!(
                    known.contains(&flag),
                    "{file}: `imageferry {sub}` has no flag {flag} (it has {known:?})"
                );
            }
            count += 1;
        }
    }
    count
}

#[test]
fn github_actions_workflow_parses_and_uses_real_flags() {
    let path = examples().join("github-actions/image-pipeline.yml");
    let doc: serde_norway::Value = serde_norway::from_str(&read(&path)).unwrap();
    assert!(doc.get("jobs").is_some(), "a workflow has jobs");
    assert_eq!(
        doc["permissions"]["id-token"],
        serde_norway::Value::String("write".into()),
        "OIDC needs id-token: write"
    );
    let mut strings = Vec::new();
    yaml_strings(&doc, &mut strings);
    let n = check_invocations("image-pipeline.yml", &strings);
    assert!(n >= 2, "request --wait and status: {n}");
}

#[test]
fn azure_devops_pipeline_parses_and_uses_real_flags() {
    let path = examples().join("azure-devops/azure-pipelines.yml");
    let doc: serde_norway::Value = serde_norway::from_str(&read(&path)).unwrap();
    assert!(doc.get("stages").is_some(), "a multi-stage pipeline");
    let mut strings = Vec::new();
    yaml_strings(&doc, &mut strings);
    let n = check_invocations("azure-pipelines.yml", &strings);
    assert!(n >= 3, "wait-replicated, request --wait and status: {n}");
}

#[test]
fn packer_template_parses_and_its_post_processor_uses_real_flags() {
    let path = examples().join("packer/linux-image.pkr.hcl");
    let body: hcl::Body = hcl::from_str(&read(&path)).unwrap();
    let build = body
        .blocks()
        .find(|b| b.identifier() == "build")
        .expect("a build block");
    let post = build
        .body
        .blocks()
        .find(|b| {
            b.identifier() == "post-processor"
                && b.labels().first().map(|l| l.as_str()) == Some("shell-local")
        })
        .expect("a shell-local post-processor");
    let mut strings = Vec::new();
    hcl_strings(&post.body, &mut strings);
    let n = check_invocations("linux-image.pkr.hcl", &strings);
    assert!(n >= 2, "wait-replicated and request: {n}");
}

#[test]
fn the_invocation_check_catches_a_wrong_flag() {
    assert!(invocations("name: Install imageferry").is_empty());
    let found = invocations("x && imageferry request --wait --no-such-flag=1 | tee log");
    assert_eq!(
        found,
        [(
            "request".to_string(),
            vec!["--wait".to_string(), "--no-such-flag".to_string()]
        )]
    );
    assert!(!known_flags("request").contains("--no-such-flag"));
    assert!(known_flags("request").contains("--wait"));
}

#[test]
fn rollout_examples_are_valid() {
    for path in [
        examples().join("rollouts.toml"),
        examples().join("../rollouts.toml"),
    ] {
        RolloutConfig::parse(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let example = RolloutConfig::parse(&read(&examples().join("rollouts.toml"))).unwrap();
    assert_eq!(example.rollouts[0].rings.len(), 2);
}

/// The scripts of a job's steps, in order (`run:` of GitHub, `script:` / `inputs.inlineScript` of
/// Azure DevOps).
fn step_scripts(steps: &serde_norway::Value) -> Vec<String> {
    steps
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|step| {
            ["run", "script"]
                .iter()
                .filter_map(|k| step.get(*k).and_then(|v| v.as_str()))
                .chain(
                    step.get("inputs")
                        .and_then(|i| i.get("inlineScript"))
                        .and_then(|v| v.as_str()),
                )
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// The release asset the pipelines download: the static CLI of `scripts/package.sh --cli-only`.
const RELEASE_ASSET: &str = "imageferry-x86_64-unknown-linux-musl.tar.gz";

/// A step that installs imageferry: downloads the release asset and its checksum file, and
/// checks the one against the other before unpacking.
fn installs(script: &str) -> bool {
    let checked = script
        .find(&format!("sha256sum -c {RELEASE_ASSET}.sha256"))
        .or_else(|| script.find("sha256sum -c \"$asset.sha256\""));
    let unpacked = script.find("tar -xzf");
    script.contains(RELEASE_ASSET) && checked.is_some_and(|c| unpacked.is_some_and(|u| c < u))
}

/// In each job, a step that runs `imageferry` (itself, or through `packer build`, whose
/// post-processor calls it) comes after the step that installs it, and no step compiles it.
fn assert_installed_before_use(file: &str, jobs: Vec<(String, Vec<String>)>) {
    let mut checked = 0;
    for (job, scripts) in jobs {
        for script in &scripts {
            assert!(
                !script.contains("cargo "),
                "{file}: job {job} compiles instead of downloading the release binary: {script}"
            );
        }
        let install = scripts.iter().position(|s| installs(s));
        for (i, script) in scripts.iter().enumerate() {
            let uses = !invocations(script).is_empty() || script.contains("packer build");
            if uses {
                checked += 1;
                assert!(
                    install.is_some_and(|at| at < i),
                    "{file}: job {job}, step {i} runs imageferry before any step installs it"
                );
            }
        }
    }
    assert!(checked >= 3, "{file}: {checked} steps use imageferry");
}

#[test]
fn every_job_installs_imageferry_before_using_it() {
    let gh: serde_norway::Value =
        serde_norway::from_str(&read(&examples().join("github-actions/image-pipeline.yml")))
            .unwrap();
    let jobs = gh["jobs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, job)| {
            (
                name.as_str().unwrap().to_string(),
                step_scripts(&job["steps"]),
            )
        })
        .collect();
    assert_installed_before_use("image-pipeline.yml", jobs);

    let ado: serde_norway::Value =
        serde_norway::from_str(&read(&examples().join("azure-devops/azure-pipelines.yml")))
            .unwrap();
    let mut jobs = Vec::new();
    for stage in ado["stages"].as_sequence().unwrap() {
        for job in stage["jobs"].as_sequence().unwrap() {
            jobs.push((
                job["job"].as_str().unwrap().to_string(),
                step_scripts(&job["steps"]),
            ));
        }
    }
    assert_installed_before_use("azure-pipelines.yml", jobs);
}

#[test]
fn rollout_gates_wait_for_the_whole_rollout() {
    // A gate built from `status` alone passes between rings; the examples use `rollout --wait`.
    for file in [
        "github-actions/image-pipeline.yml",
        "azure-devops/azure-pipelines.yml",
    ] {
        let text = read(&examples().join(file));
        let gates: Vec<_> = invocations(&text.replace("\\\n", " "))
            .into_iter()
            .filter(|(sub, _)| sub == "rollout")
            .collect();
        assert!(
            gates
                .iter()
                .any(|(_, flags)| flags.contains(&"--wait".to_string())),
            "{file}: no `imageferry rollout --wait` gate"
        );
    }
}

#[test]
fn the_release_workflow_publishes_what_the_pipelines_download() {
    let path = examples().join("github-actions/release.yml");
    let doc: serde_norway::Value = serde_norway::from_str(&read(&path)).unwrap();
    let tags = &doc["on"]["push"]["tags"];
    assert!(
        tags.as_sequence()
            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("v*"))),
        "released on a v* tag: {tags:?}"
    );
    assert_eq!(
        doc["permissions"]["contents"].as_str(),
        Some("write"),
        "creating a release needs contents: write"
    );
    let job = &doc["jobs"]["cli"];
    assert_eq!(
        job["env"]["IMAGEFERRY_PACKAGE_TARGET"].as_str(),
        Some("x86_64-unknown-linux-musl"),
        "no silent glibc fallback"
    );
    let scripts = step_scripts(&job["steps"]).join("\n");
    for needed in [
        "rustup target add x86_64-unknown-linux-musl",
        "apt-get install -y musl-tools",
        "scripts/package.sh --cli-only",
        &format!("sha256sum -c {RELEASE_ASSET}.sha256"),
        "gh release create",
        &format!("target/release-assets/{RELEASE_ASSET} "),
        &format!("target/release-assets/{RELEASE_ASSET}.sha256"),
    ] {
        assert!(scripts.contains(needed), "release.yml: {needed}: {scripts}");
    }
    // What it publishes is what every pipeline downloads.
    for file in [
        "github-actions/image-pipeline.yml",
        "azure-devops/azure-pipelines.yml",
    ] {
        assert!(
            read(&examples().join(file)).contains(RELEASE_ASSET),
            "{file}"
        );
    }
}

#[test]
fn ci_jobs_leave_the_federated_token_to_imageferry() {
    // GitHub Actions: no step fetches a token into a file (it would expire during a long gate);
    // with `id-token: write` imageferry asks the OIDC endpoint at every exchange.
    let gh = read(&examples().join("github-actions/image-pipeline.yml"));
    for gone in [
        "AZURE_FEDERATED_TOKEN_FILE",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ] {
        assert!(!gh.contains(gone), "image-pipeline.yml still uses {gone}");
    }
    // Azure Pipelines: every step that gates maps the job token for the OIDC requests and names
    // the service connection's app.
    let ado: serde_norway::Value =
        serde_norway::from_str(&read(&examples().join("azure-devops/azure-pipelines.yml")))
            .unwrap();
    let mut gates = 0;
    for stage in ado["stages"].as_sequence().unwrap() {
        for job in stage["jobs"].as_sequence().unwrap() {
            for step in job["steps"].as_sequence().unwrap() {
                let script = step["inputs"]["inlineScript"].as_str().unwrap_or_default();
                if !script.contains("--wait") {
                    continue;
                }
                gates += 1;
                assert_eq!(
                    step["env"]["SYSTEM_ACCESSTOKEN"].as_str(),
                    Some("$(System.AccessToken)"),
                    "{script}"
                );
                assert!(
                    script.contains("AZURE_CLIENT_ID=\"$AZURESUBSCRIPTION_CLIENT_ID\""),
                    "{script}"
                );
            }
        }
    }
    assert_eq!(gates, 2, "the canary and rollout gates");
}

#[test]
fn package_sh_archives_the_cli_with_its_checksum() {
    let out = std::env::temp_dir().join(format!("imageferry-package-{}", uuid::Uuid::new_v4()));
    let status = Command::new("bash")
        .arg(examples().join("../scripts/package.sh"))
        .args([
            "--cli-only",
            "--cli-binary",
            env!("CARGO_BIN_EXE_imageferry"),
            "--out",
        ])
        .arg(&out)
        // The debug binary of this test run is a glibc one: name the archive after it.
        .env("IMAGEFERRY_PACKAGE_TARGET", "x86_64-unknown-linux-gnu")
        .status()
        .expect("bash runs");
    assert!(status.success(), "package.sh: {status}");
    let assets = out.join("release-assets");
    let asset = "imageferry-x86_64-unknown-linux-gnu.tar.gz";
    assert!(
        !out.join("functionapp.zip").exists(),
        "--cli-only packages no Function App"
    );
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{asset}.sha256")])
        .current_dir(&assets)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let list = Command::new("tar")
        .args(["-tvzf", asset])
        .current_dir(&assets)
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let entries: Vec<&str> = list.lines().collect();
    assert_eq!(entries.len(), 1, "the binary alone: {list}");
    assert!(
        entries[0].starts_with("-rwxr-xr-x") && entries[0].ends_with(" imageferry"),
        "{list}"
    );
    let unpacked = out.join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    assert!(
        Command::new("tar")
            .args(["-xzf"])
            .arg(assets.join(asset))
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap()
            .success()
    );
    let version = Command::new(unpacked.join("imageferry"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout)
            .starts_with(&format!("imageferry {}", env!("CARGO_PKG_VERSION")))
    );
    std::fs::remove_dir_all(&out).unwrap();
}
