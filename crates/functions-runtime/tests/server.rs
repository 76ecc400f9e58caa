//! The real server on a loopback socket: readiness and graceful shutdown.

use std::time::Duration;

use bytes::Bytes;
use functions_runtime::host_wire::{HostInvocation, HostMessage, request};
use functions_runtime::{
    Error, Functions, Invocation, InvocationResult, ServiceBusMessage, serve, service_fn,
};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// One HTTP/1 request over a fresh connection.
async fn call(
    addr: std::net::SocketAddr,
    request: http::Request<String>,
) -> (http::StatusCode, Bytes) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let (parts, body) = request.into_parts();
    let response = sender
        .send_request(http::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
        .await
        .expect("response");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

#[tokio::test]
async fn readiness_over_tcp_and_graceful_shutdown_finishes_in_flight_invocations() {
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<()>();
    let functions = Functions::new().service_bus(
        "slow",
        service_fn(move |_: Invocation<ServiceBusMessage<Value>>| {
            let started = started_tx.clone();
            async move {
                started.send(()).expect("test is listening");
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok::<_, Error>(InvocationResult::default().log("finished"))
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(functions, listener, async {
        let _ = stop_rx.await;
    }));

    let ready = http::Request::get(format!("http://{addr}/"))
        .body(String::new())
        .unwrap();
    let (status, _) = call(addr, ready).await;
    assert_eq!(status, http::StatusCode::OK);

    let invocation = HostInvocation::new("slow", "message");
    let req = request(&HostMessage::new("{}"), &invocation, &addr.to_string()).unwrap();
    let in_flight = tokio::spawn(call(addr, req));
    started_rx.recv().await.expect("handler started");
    stop_tx.send(()).unwrap();

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(
        status,
        http::StatusCode::OK,
        "in-flight invocation completed"
    );
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["Logs"][0], "finished");

    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server stops after the invocation")
        .unwrap()
        .expect("clean stop");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
