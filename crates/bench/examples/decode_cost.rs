use functions_runtime::TriggerOptions;
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (_, headers, body) = bench::workload::invocation_request("noop");
    let id = headers[3].1.clone();
    let opts = TriggerOptions::default();
    for _ in 0..100_000 {
        match mode.as_str() {
            "value" => {
                let v: serde_json::Value = serde_json::from_slice(body.as_bytes()).unwrap();
                std::hint::black_box(v);
            }
            "full" => {
                let v = functions_runtime::decode::service_bus_invocation::<serde_json::Value>(
                    "noop",
                    Some(&id),
                    body.as_bytes(),
                    &opts,
                )
                .unwrap();
                std::hint::black_box(v);
            }
            _ => {}
        }
    }
}
