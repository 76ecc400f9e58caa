//! Baseline for invocation throughput: bare axum that parses the request JSON on `POST /{name}`
//! and answers the custom-handler result `{"Outputs":{},"Logs":[],"ReturnValue":null}`.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;

async fn echo(Path(_name): Path<String>, body: Bytes) -> axum::response::Response {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(_) => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"Outputs":{},"Logs":[],"ReturnValue":null}"#,
        )
            .into_response(),
        Err(_) => (axum::http::StatusCode::BAD_REQUEST, "not json").into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = bench::baseline::listen().await?;
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/{name}", post(echo));
    axum::serve(listener, app).await
}
