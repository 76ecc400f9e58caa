//! `functions_runtime::run` end to end through the `noop-handler` binary: the port variable,
//! readiness, one invocation, JSON logs on stdout, SIGTERM → clean exit.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bench::process::{free_port, probe};
use bench::workload::invocation_request;

#[test]
fn noop_handler_serves_logs_json_and_stops_on_sigterm() {
    let port = free_port().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_noop-handler"))
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe(addr) {
        assert!(Instant::now() < deadline, "noop-handler never became ready");
        std::thread::sleep(Duration::from_millis(5));
    }

    let (path, headers, body) = invocation_request(bench::NOOP_FUNCTION);
    let mut request = format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    for (name, value) in &headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    assert!(
        answer.ends_with(r#"{"Outputs":{},"Logs":[],"ReturnValue":null}"#),
        "{answer}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "clean exit on SIGTERM: {:?}",
        output.status
    );
    assert!(
        output.stderr.is_empty(),
        "nothing on stderr (the host treats it as errors)"
    );

    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let invocation_id = &headers
        .iter()
        .find(|(n, _)| *n == "x-azure-functions-invocationid")
        .unwrap()
        .1;
    let succeeded = lines
        .iter()
        .find(|l| l["message"] == "invocation succeeded")
        .unwrap_or_else(|| panic!("no success line in {stdout}"));
    let invocation = &succeeded["spans"][0];
    assert_eq!(invocation["name"], "invocation");
    assert_eq!(invocation["function"], bench::NOOP_FUNCTION);
    assert_eq!(invocation["invocation_id"], invocation_id.as_str());
    assert_eq!(invocation["delivery_count"], 1);
    assert!(invocation["message_id"].is_string());
    assert_eq!(invocation["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(invocation["span_id"].as_str().map(str::len), Some(16));
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "custom handler stopped"),
        "{stdout}"
    );
    // A well-formed message whose body fields are promoted into Metadata is not a warning.
    let noisy: Vec<_> = lines
        .iter()
        .filter(|l| l["level"] == "WARN" || l["level"] == "ERROR")
        .collect();
    assert!(noisy.is_empty(), "unexpected warnings: {noisy:?}");
}
