//! Retention: finished rows go once older than `HERALD_RETENTION`; pending
//! work, rate-limit slots and the dedupe within the window stay.

use crate::helpers::{Options, TestApp, wait_for};
use crate::receiver::{Receiver, Reply};
use chrono::{SecondsFormat, Utc};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_rows_go_pending_ones_and_the_dedupe_within_the_window_stay() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        proxy_smtp: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.retention = Duration::from_secs(8);
    app.worker_settings.targets.webhook_allow_private = true;
    app.start_worker();
    let ok = Receiver::always(Reply::Status(200)).await;
    app.register(&ok.url(), &[]).await;

    // Finished work: a welcome email and its webhook, a reset whose token expires.
    let welcome = app
        .publish(
            "user.created",
            json!({"id": "u1", "email": "a@example.com"}),
        )
        .await;
    let expires =
        (Utc::now() + chrono::Duration::seconds(3)).to_rfc3339_opts(SecondsFormat::Millis, true);
    app.publish(
        "user.password_reset",
        json!({"email": "r@example.com", "expires_at": expires}),
    )
    .await;
    app.wait_processed(2).await;
    app.wait_emails_final().await;
    ok.wait_for(2).await;
    // Within the window, the same event again changes nothing.
    app.publish_with_id(
        "user.created",
        &welcome,
        json!({"id": "u1", "email": "a@example.com"}),
    )
    .await;
    app.publish("user.updated", json!({"id": "u1"})).await;
    app.wait_processed(3).await;
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE recipient = 'a@example.com'")
            .await,
        1,
        "the redelivered event sent nothing again"
    );

    // Pending work: an email the server cannot take, a webhook that keeps failing.
    app.smtp_proxy.as_ref().unwrap().cut();
    let down = Receiver::always(Reply::Status(500)).await;
    app.register(&down.url(), &["user.created"]).await;
    let pending = app
        .publish(
            "user.created",
            json!({"id": "u2", "email": "b@example.com"}),
        )
        .await;
    app.wait_processed(4).await;

    wait_for("finished rows deleted", Duration::from_secs(60), || async {
        app.count("SELECT count(*) FROM email_outbox WHERE recipient = 'a@example.com'")
            .await
            == 0
            && app
                .count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .await
                == 0
            && app
                .count("SELECT count(*) FROM password_reset_tokens")
                .await
                == 0
            && app.processed().await == 1
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM email_attempts e WHERE NOT EXISTS (SELECT 1 FROM email_outbox o WHERE o.id = e.outbox_id)").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.status = 'delivered'").await, 0);
    // The event with pending work keeps its id, its email and its delivery.
    let kept: String = sqlx::query_scalar("SELECT event_id FROM processed_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, pending);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'pending' AND recipient = 'b@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await,
        1
    );
    // The reset email holds its recipient's rate-limit slot for the hour.
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE template = 'password_reset'")
            .await,
        1
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("herald_retention_deleted_total{table=\"email_outbox\"}"),
        "{metrics}"
    );
}
