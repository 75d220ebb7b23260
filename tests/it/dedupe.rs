//! Once per event id, however often it arrives.

use crate::helpers::TestApp;
use lapin::BasicProperties;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let data = json!({"id": "inv_d", "email": "dup@example.com"});
    app.publish_with_id("invite.created", "evt-1", data.clone())
        .await;
    app.wait_processed(1).await;
    let hash_before: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // Republished as a new delivery, and again as a Medusa message whose
    // message-id is the same event id.
    app.publish_with_id("invite.created", "evt-1", data.clone())
        .await;
    let medusa = json!({"name": "invite.created", "data": data});
    app.publish_raw(
        "invite.created",
        medusa.to_string().as_bytes(),
        BasicProperties::default().with_message_id("evt-1".into()),
    )
    .await;
    // A resend under a reused id must not rotate the token either.
    app.publish_with_id("invite.resent", "evt-1", json!({"id": "inv_d"}))
        .await;
    // A sentinel behind them: once it is processed, so are they.
    app.publish("user.updated", json!({"id": "sentinel"})).await;
    app.wait_processed(2).await;

    let hash_after: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(hash_before, hash_after);
    assert_eq!(app.outbox().await.len(), 1, "one email, not four");
    assert_eq!(
        app.queue_len(&app.settings.broker.dead_letter_name()).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_event_for_a_known_invite_sends_nothing() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_k", "email": "k@example.com"}),
    )
    .await;
    app.publish(
        "invite.created",
        json!({"id": "inv_k", "email": "other@example.com"}),
    )
    .await;
    app.wait_processed(2).await;
    let email: String = sqlx::query_scalar("SELECT email FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(email, "k@example.com");
    assert_eq!(app.outbox().await.len(), 1);
}
