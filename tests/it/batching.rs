//! A prefetch window handled in one transaction: an event refused in the
//! middle is rolled back and dead-lettered alone, the others commit, and
//! every delivery is acked.

use crate::helpers::{Options, TestApp, header, wait_until};
use herald::intake::dead_letter::ERROR_HEADER;
use lapin::BasicProperties;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_mid_batch_is_dead_lettered_alone() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    // Queued before the worker starts, so they arrive as one prefetch window.
    app.publish_with_id(
        "invite.created",
        "evt-a",
        json!({"id": "inv_a", "email": "a@example.com"}),
    )
    .await;
    // Refused by its handler after the event id was recorded: only its
    // savepoint is rolled back.
    app.publish_with_id("invite.resent", "evt-bad", json!({"id": "inv_missing"}))
        .await;
    app.publish_raw(
        "user.created",
        b"{not json",
        BasicProperties::default().with_message_id("evt-malformed".into()),
    )
    .await;
    app.publish_with_id(
        "invite.created",
        "evt-b",
        json!({"id": "inv_b", "email": "b@example.com"}),
    )
    .await;
    // The same event again in the same window: applied once.
    app.publish_with_id(
        "invite.created",
        "evt-a",
        json!({"id": "inv_a", "email": "a@example.com"}),
    )
    .await;
    app.publish_with_id("user.updated", "evt-last", json!({"id": "u1"}))
        .await;
    app.start_worker();

    app.wait_processed(3).await;
    let dead_letters = app.settings.broker.dead_letter_name();
    wait_until("two dead letters", || async {
        app.queue_len(&dead_letters).await >= 2
    })
    .await;
    let dead = app.take_dead_letters().await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|d| header(&d.properties, ERROR_HEADER).unwrap_or_default())
        .collect();
    reasons.sort();
    assert_eq!(dead.len(), 2);
    assert!(reasons[0].contains("not JSON"), "{reasons:?}");
    assert!(reasons[1].contains("unknown invite"), "{reasons:?}");

    let ids: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM processed_events ORDER BY event_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ids, ["evt-a", "evt-b", "evt-last"]);
    let mut recipients: Vec<String> = app
        .outbox()
        .await
        .into_iter()
        .map(|r| r.recipient)
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["a@example.com", "b@example.com"]);

    // Everything was acked: nothing comes back once the worker lets go.
    app.stop_worker().await;
    assert_eq!(app.queue_len(&app.settings.broker.queue).await, 0);
    assert_eq!(
        app.queue_len(&app.settings.broker.dead_letter_name()).await,
        0
    );
}
