//! `handler`: the Azure Functions custom handler process. Registers the four deployment steps
//! and the two rollout functions (`image-version-published`, `rollout-check`) and serves them on
//! `FUNCTIONS_CUSTOMHANDLER_PORT`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), functions_runtime::Error> {
    functions_runtime::init_tracing();
    let app = imageferry_handlers::App::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "the handler cannot start: fix its settings");
    })?;
    let app = Arc::new(app);
    // An invalid rollout configuration stops the handler here, naming the file and the line.
    let rollouts = imageferry_handlers::rollout::Rollouts::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "the handler cannot start: fix the rollout configuration");
    })?;
    let functions = imageferry_handlers::functions(app.clone());
    functions_runtime::run(imageferry_handlers::rollout::functions(
        functions,
        app,
        Arc::new(rollouts),
    ))
    .await
}
