//! The reset limit is decided at intake: a reset request over the
//! per-recipient limit changes nothing, so nobody can keep an address's
//! owner from resetting by requesting resets for it.

use crate::helpers::{Options, TestApp, sha256};
use crate::receiver::Receiver;
use herald::settings::RateLimit;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_over_the_limit_change_nothing_and_are_still_forwarded() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.email_rate_limit = RateLimit {
        max: 5,
        per: Duration::from_secs(3600),
    };
    app.worker_settings.targets.webhook_allow_private = true;
    let receiver = Receiver::start(vec![]).await;
    app.register(&receiver.url(), &[]).await;
    app.start_worker();

    for _ in 0..7 {
        app.publish("user.password_reset", json!({"email": "owner@example.com"}))
            .await;
    }
    app.wait_processed(7).await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        tokens.push(app.next_token().await.1);
    }
    app.wait_emails_final().await;
    assert_eq!(app.smtp.accepted(), 5, "five emails, no more");
    assert_eq!(receiver.wait_for(7).await.len(), 7, "all seven forwarded");

    // The sixth and seventh minted nothing, invalidated nothing, and are
    // recorded as rate-limited.
    let rows: Vec<(Vec<u8>, bool)> = sqlx::query_as(
        "SELECT token_hash, invalidated_at IS NOT NULL FROM password_reset_tokens ORDER BY created_at, id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        [true, true, true, true, false]
    );
    let dropped: Vec<(String, Option<Vec<u8>>, String)> = sqlx::query_as(
        "SELECT o.status, o.token_sealed, a.outcome FROM email_outbox o
         JOIN email_attempts a ON a.outbox_id = o.id WHERE o.status <> 'sent'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(dropped.len(), 2);
    for (status, sealed, outcome) in &dropped {
        assert_eq!(
            (status.as_str(), outcome.as_str()),
            ("dropped", "rate_limited")
        );
        assert!(sealed.is_none());
    }

    // The fifth token, emailed before the sixth and seventh requests, still works.
    let fifth = tokens
        .iter()
        .find(|t| sha256(t) == rows[4].0)
        .expect("the fifth token was emailed");
    let consumed = app
        .post("/v1/password-resets/consume", json!({"token": fifth}))
        .await;
    assert_eq!(consumed.status(), 200);
    let body: serde_json::Value = consumed.json().await.unwrap();
    assert_eq!(body["email"], "owner@example.com");
}
