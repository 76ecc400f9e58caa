//! Command-line errors are usage errors (exit 4, README's exit-code table), not clap's exit 2,
//! which means "rejected"; `--help` and `--version` succeed. Through the real binary, with no
//! Azure settings (none of these commands gets as far as a network call).

use std::process::{Command, Output};

fn imageferry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_imageferry"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("imageferry runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn flag_errors_exit_4_with_clap_s_message() {
    for (args, says) in [
        // An unknown flag, top level and on a subcommand.
        (
            &["--no-such-flag"][..],
            "unexpected argument '--no-such-flag'",
        ),
        (
            &["consent-url", "--tenant", "t", "--bogus"][..],
            "unexpected argument '--bogus'",
        ),
        // A required flag missing, and a flag without its value.
        (&["consent-url"][..], "--tenant <TENANT>"),
        (
            &["consent-url", "--tenant"][..],
            "a value is required for '--tenant <TENANT>'",
        ),
        // A value outside the flag's choices.
        (
            &["status", "--output", "xml"][..],
            "invalid value 'xml' for '--output <OUTPUT>'",
        ),
        // An unknown subcommand, and none at all.
        (
            &["no-such-command"][..],
            "unrecognized subcommand 'no-such-command'",
        ),
        (&[][..], "Usage: imageferry"),
    ] {
        let out = imageferry(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), 4, "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: errors go to stderr: {stdout}");
    }
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    for args in [
        &["--help"][..],
        &["-h"][..],
        &["help"][..],
        &["doctor", "--help"][..],
        &["help", "plan"][..],
    ] {
        let out = imageferry(args);
        let (stdout, stderr) = text(&out);
        assert_eq!(code(&out), 0, "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("Usage: imageferry"), "{args:?}: {stdout}");
    }
    let out = imageferry(&["--version"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(code(&out), 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("imageferry {}", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn readme_documents_4_for_command_line_errors() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| 4 |"))
        .expect("the exit-code table has a row for 4");
    assert!(row.contains("unknown flag"), "{row}");
    let row2 = readme
        .lines()
        .find(|l| l.starts_with("| 2 |"))
        .expect("a row for 2");
    assert!(!row2.contains("flag"), "2 is not a flag error: {row2}");
}
