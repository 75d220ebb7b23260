//! The per-recipient limit. A reset is decided at intake: a request over the
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

/// Invites take their slot when claimed: a claim holding more invites to
/// one address than the limit allows sends the first ones only, and a
/// welcome email to that address is not limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_claimed_together_take_slots_up_to_the_limit() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.email_rate_limit = RateLimit {
        max: 2,
        per: Duration::from_secs(3600),
    };
    // Queued before the worker starts, so one claim takes them all.
    for i in 0..4 {
        let email = if i % 2 == 0 {
            "many@example.com"
        } else {
            "MANY@example.com"
        };
        app.publish(
            "invite.created",
            json!({"id": format!("inv_{i}"), "email": email}),
        )
        .await;
    }
    app.publish(
        "user.created",
        json!({"id": "usr_1", "email": "many@example.com"}),
    )
    .await;
    app.start_worker();
    crate::helpers::wait_until("every email final", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status <> 'pending'")
            .await
            == 5
    })
    .await;
    let by_status: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT template, status, count(*) FROM email_outbox GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected = [
        ("invite", "dropped", 2),
        ("invite", "sent", 2),
        ("welcome", "sent", 1),
    ];
    let expected: Vec<(String, String, i64)> = expected
        .iter()
        .map(|(t, s, n)| (t.to_string(), s.to_string(), *n))
        .collect();
    assert_eq!(by_status, expected);
    assert_eq!(
        app.count("SELECT count(*) FROM email_attempts WHERE outcome = 'rate_limited'")
            .await,
        2
    );
    assert_eq!(app.smtp.drain().await.len(), 3);
}
