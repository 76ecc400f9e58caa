//! `handler`: the Azure Functions custom handler process. Registers the four functions and
//! serves them on `FUNCTIONS_CUSTOMHANDLER_PORT`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), functions_runtime::Error> {
    functions_runtime::init_tracing();
    let app = imageferry_handlers::App::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "the handler cannot start: fix its settings");
    })?;
    functions_runtime::run(imageferry_handlers::functions(Arc::new(app))).await
}
