//! SIGTERM during a burst: every event is committed and acked, or left in
//! the queue for the next start.

use crate::helpers::{Options, TestApp, herald_bin, wait_until};
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_acks_exactly_what_it_committed() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    const N: i64 = 400;
    for i in 0..N {
        app.publish(
            "user.password_reset",
            json!({"email": format!("r{i}@example.com")}),
        )
        .await;
    }
    let mut child = herald_bin()
        .arg("run")
        .envs(app.env())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the burst is under way", || async {
        app.processed().await >= 30
    })
    .await;
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful exit, got {status}");

    let committed = app.processed().await;
    assert!(committed < N, "stopped mid-burst ({committed} of {N})");
    // Acked = committed: what is left in the queue is exactly the rest.
    let queue = app.settings.broker.queue.clone();
    wait_until("unacked deliveries requeued", || async {
        app.queue_len(&queue).await as i64 == N - committed
    })
    .await;

    app.start_worker();
    app.wait_processed(N).await;
    assert_eq!(app.count("SELECT count(*) FROM email_outbox").await, N);
    assert_eq!(
        app.count("SELECT count(*) FROM password_reset_tokens")
            .await,
        N
    );
    app.stop_worker().await;
    tokio::time::timeout(Duration::from_secs(5), async {})
        .await
        .unwrap();
}
