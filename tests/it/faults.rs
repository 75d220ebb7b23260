//! Passing faults mid-stream lose nothing and dead-letter nothing.

use crate::helpers::{Options, TestApp, wait_until};
use serde_json::json;
use std::time::Duration;

const EVENTS: i64 = 300;

async fn publish_stream(app: &TestApp) {
    for i in 0..EVENTS {
        app.publish(
            "invite.created",
            json!({"id": format!("inv_{i}"), "email": format!("u{i}@example.com")}),
        )
        .await;
    }
}

async fn assert_all_processed_once(app: &TestApp) {
    app.wait_processed(EVENTS).await;
    assert_eq!(app.count("SELECT count(*) FROM invites").await, EVENTS);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox").await,
        EVENTS,
        "one email per event"
    );
    assert_eq!(
        app.queue_len(&app.settings.dead_letter_name()).await,
        0,
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_broker_connection_loses_nothing() {
    let app = TestApp::spawn_with(Options {
        proxy_amqp: true,
        ..Default::default()
    })
    .await;
    publish_stream(&app).await;
    wait_until("some events processed", || async {
        app.processed().await >= 20
    })
    .await;
    let proxy = app.amqp_proxy.as_ref().unwrap();
    proxy.cut();
    let at_cut = app.processed().await;
    assert!(at_cut < EVENTS, "the cut came mid-stream");
    // The outage itself lasts a moment; nothing is waited for here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.restore();
    assert_all_processed_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_loses_nothing() {
    let app = TestApp::spawn_with(Options {
        proxy_db: true,
        ..Default::default()
    })
    .await;
    publish_stream(&app).await;
    wait_until("some events processed", || async {
        app.processed().await >= 20
    })
    .await;
    let proxy = app.db_proxy.as_ref().unwrap();
    proxy.cut();
    assert!(app.processed().await < EVENTS, "the cut came mid-stream");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();
    assert_all_processed_once(&app).await;
}
