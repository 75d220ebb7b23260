//! `herald health`: the image's healthcheck, without curl.

use crate::helpers::{TestApp, herald_bin};
use std::process::Output;

async fn health(addr: std::net::SocketAddr) -> Output {
    let mut cmd = herald_bin();
    cmd.args(["health", "--timeout", "3s"])
        .env("HERALD_HTTP_ADDR", addr.to_string());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_exits_zero_against_a_ready_worker_and_non_zero_otherwise() {
    let mut app = TestApp::spawn().await;
    let addr = app.http.unwrap();
    crate::helpers::wait_until("the worker ready", || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let output = health(addr).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ready");

    app.stop_worker().await;
    let output = health(addr).await;
    assert!(!output.status.success(), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("/readyz"), "{err}");
}
