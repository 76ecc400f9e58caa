//! The stand-in's log written to a file (as `imageferry dev` does) is plain text: no ANSI colour
//! codes when stderr is not a terminal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn a_log_file_has_no_colour_codes() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("log-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("servicebus.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_servicebus-emulator"))
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(dir.join("bus.db"))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .expect("servicebus-emulator starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("servicebus-emulator listening on http://"),
        "{line}"
    );
    // SIGTERM: it logs that it stops (at info, through tracing), then exits.
    process_control::signal(child.id(), process_control::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("servicebus-emulator stopping"), "{text:?}");
    assert!(
        !text.contains('\x1b'),
        "ANSI escape codes in the log file: {text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
