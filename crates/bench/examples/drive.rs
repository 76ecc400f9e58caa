fn main() {
    let (path, headers, body) = bench::workload::invocation_request("noop");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let spec = bench::load::LoadSpec {
        addr: "127.0.0.1:39411".parse().unwrap(),
        path,
        headers,
        body: body.into(),
        concurrency: 32,
        requests: 150000,
    };
    let r = rt.block_on(bench::load::run(&spec)).unwrap();
    println!("{} rps", r.throughput());
}
