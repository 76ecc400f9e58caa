//! The `functions-host` binary's own log (its tracing warnings and errors) reaches stderr, and
//! written to a file it is plain text: no ANSI colour codes when stderr is not a terminal.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn warnings_reach_a_log_file_without_colour_codes() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("host-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("work")).unwrap();
    // A handler that cannot start: the host logs an error (tracing) and retries.
    std::fs::write(
        dir.join("host.json"),
        r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"imageferry-no-such-handler"}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("work/function.json"),
        r#"{"bindings":[{"name":"message","type":"serviceBusTrigger","direction":"in","queueName":"work","connection":"ServiceBusConnection"}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("local.settings.json"),
        r#"{"IsEncrypted":false,"Values":{"ServiceBusConnection":"Endpoint=sb://127.0.0.1:9/;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true"}}"#,
    )
    .unwrap();
    let log = dir.join("host.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_functions-host"))
        .arg("--app-root")
        .arg(&dir)
        .arg("--handler-log")
        .arg(dir.join("handler.log"))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("functions-host starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("the custom handler did not start") || Instant::now() >= deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("the custom handler did not start"),
        "the host's tracing error in its log: {text:?}"
    );
    assert!(
        !text.contains('\x1b'),
        "ANSI escape codes in the log file: {text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
