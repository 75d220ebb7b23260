//! An email whose link stopped working before it could go out ends
//! `expired` and is never sent, whatever held it back.

use crate::helpers::{Options, TestApp, wait_until};
use chrono::{SecondsFormat, Utc};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_held_back_past_its_expiry_ends_expired_and_is_never_sent() {
    let app = TestApp::spawn_with(Options {
        proxy_smtp: true,
        ..Default::default()
    })
    .await;
    let queue = crate::lifecycle::listen(&app, &["email.failed"]).await;
    let proxy = app.smtp_proxy.as_ref().unwrap();
    proxy.cut();
    let expires =
        (Utc::now() + chrono::Duration::seconds(3)).to_rfc3339_opts(SecondsFormat::Millis, true);
    app.publish(
        "user.password_reset",
        json!({"email": "late@example.com", "expires_at": expires}),
    )
    .await;
    wait_until("the reset email ends expired", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'expired'")
            .await
            == 1
    })
    .await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM email_attempts
             WHERE outcome = 'expired' AND detail LIKE 'the reset token expired at %'"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE token_sealed IS NOT NULL")
            .await,
        0,
        "an expired email keeps no token"
    );
    let (key, body) = crate::lifecycle::next_event(&app, &queue).await;
    assert_eq!(key, "email.failed");
    assert_eq!(body["data"]["status"], "expired");
    assert_eq!(body["data"]["template"], "password_reset");
    assert_eq!(body["data"]["recipient"], "late@example.com");
    assert!(!body.to_string().to_lowercase().contains("token"), "{body}");
    // Once the server is back, a later email goes out, and only that one.
    proxy.restore();
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "next@example.com"}),
    )
    .await;
    let got = app.smtp.next_email().await;
    assert_eq!(got.rcpt_to, vec!["next@example.com".to_owned()]);
    app.wait_emails_final().await;
    assert_eq!(app.smtp.accepted(), 1, "the expired reset was never sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_email_revoked_before_it_went_out_ends_expired() {
    let app = TestApp::spawn_with(Options {
        proxy_smtp: true,
        ..Default::default()
    })
    .await;
    let proxy = app.smtp_proxy.as_ref().unwrap();
    proxy.cut();
    app.publish(
        "invite.created",
        json!({"id": "inv_gone", "email": "gone@example.com"}),
    )
    .await;
    app.wait_processed(1).await;
    app.publish("invite.deleted", json!({"id": "inv_gone"}))
        .await;
    wait_until("the invite email ends expired", || async {
        app.count(
            "SELECT count(*) FROM email_outbox o JOIN email_attempts a ON a.outbox_id = o.id
             WHERE o.status = 'expired' AND a.outcome = 'expired'
               AND a.detail = 'the invite was revoked'",
        )
        .await
            == 1
    })
    .await;
    proxy.restore();
    app.publish(
        "user.created",
        json!({"id": "u2", "email": "after@example.com"}),
    )
    .await;
    assert_eq!(
        app.smtp.next_email().await.rcpt_to,
        vec!["after@example.com".to_owned()]
    );
    app.wait_emails_final().await;
    assert_eq!(app.smtp.accepted(), 1, "the revoked invite was never sent");
}
