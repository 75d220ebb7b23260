//! Probes cannot starve the worker: a flood of `/readyz` and `/metrics`
//! waits on the HTTP server's own connections, never on the worker's.

use crate::helpers::{TestApp, wait_for, wait_until};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_flow_under_a_flood_of_probes() {
    let app = Arc::new(TestApp::spawn().await);
    wait_until("HTTP up", || async {
        app.client.get(app.url("/healthz")).send().await.is_ok()
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut flood = Vec::new();
    for i in 0..64 {
        let (app, stop, answered) = (app.clone(), stop.clone(), answered.clone());
        let path = if i % 2 == 0 { "/readyz" } else { "/metrics" };
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if app.client.get(app.url(path)).send().await.is_ok() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    wait_until("the flood under way", || async {
        answered.load(Ordering::Relaxed) > 200
    })
    .await;
    for i in 0..20 {
        app.publish(
            "invite.created",
            json!({"id": format!("inv_f{i}"), "email": format!("f{i}@example.test")}),
        )
        .await;
    }
    let result = async {
        wait_for(
            "every invite emailed during the flood",
            Duration::from_secs(15),
            || async {
                app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
                    .await
                    == 20
            },
        )
        .await;
    };
    result.await;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
    }
}
