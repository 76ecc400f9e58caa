//! Baseline for start-up time: bare axum answering `GET /` with `ok` on
//! `127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = bench::baseline::listen().await?;
    let app = Router::new().route("/", get(|| async { "ok" }));
    axum::serve(listener, app).await
}
