//! The runtime under test: one no-op Service Bus function `noop`, typed on `serde_json::Value`,
//! served by `functions_runtime::run` exactly as the real handler is.

use functions_runtime::{Error, Functions, Invocation, ServiceBusMessage, service_fn};

async fn noop(_: Invocation<ServiceBusMessage<serde_json::Value>>) -> Result<(), Error> {
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    functions_runtime::run(Functions::new().service_bus(bench::NOOP_FUNCTION, service_fn(noop)))
        .await
}
