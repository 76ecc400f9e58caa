//! `handler`: the Azure Functions custom handler process. Registers the four functions and
//! serves them on `FUNCTIONS_CUSTOMHANDLER_PORT`.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), functions_runtime::Error> {
    let app = imageferry_handlers::App::from_env()?;
    functions_runtime::run(imageferry_handlers::functions(Arc::new(app))).await
}
