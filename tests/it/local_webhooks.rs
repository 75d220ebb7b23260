//! Webhooks to a receiver on this machine: a refusal names the setting that
//! allows it, and `replay --pending` sends a waiting delivery now.

use crate::helpers::{Options, TestApp, herald_bin, wait_until};
use crate::logged_worker::LoggedWorker;
use crate::receiver::{Receiver, Reply};
use herald::settings::Schedule;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

async fn app() -> TestApp {
    TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await
}

async fn delivery(app: &TestApp, endpoint: Uuid) -> Option<(String, i32)> {
    sqlx::query_as("SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1")
        .bind(endpoint)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_private_target_is_a_warning_naming_the_setting() {
    let app = app().await;
    let receiver = Receiver::start(vec![]).await;
    // By name (refused by the resolver) and by IP literal (refused before it).
    let by_name = format!("http://localhost:{}/hook", receiver.addr.port());
    let by_ip = receiver.url();
    app.register(&by_name, &[]).await;
    app.register(&by_ip, &[]).await;
    let worker = LoggedWorker::start(&app, &[]);
    app.publish("user.updated", json!({"id": "u_1"})).await;
    let warns = || {
        worker
            .lines()
            .into_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .filter(|l| {
                l["level"] == "WARN"
                    && l["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("HERALD_WEBHOOK_ALLOW_PRIVATE"))
            })
            .count()
    };
    wait_until("two refusals warned", || async { warns() >= 2 }).await;
    assert_eq!(receiver.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_pending_sends_a_waiting_delivery_now() {
    let mut app = app().await;
    // The first attempt fails; the next would come an hour later.
    app.worker_settings.webhook_retry_schedule = Schedule(vec![Duration::from_secs(3600)]);
    app.worker_settings.targets.webhook_allow_private = true;
    let receiver = Receiver::start(vec![Reply::Status(503)]).await;
    let endpoint = app.register(&receiver.url(), &[]).await.0;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_2"})).await;
    wait_until("the first attempt failed", || async {
        delivery(&app, endpoint).await == Some(("pending".into(), 1))
    })
    .await;

    let mut cmd = herald_bin();
    cmd.args(["webhooks", "replay", "--pending"])
        .envs(app.env());
    let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("brought forward 1 pending"), "{stdout}");
    wait_until("the delivery delivered", || async {
        delivery(&app, endpoint).await == Some(("delivered".into(), 2))
    })
    .await;
    assert_eq!(receiver.count(), 2);
}
