//! `HERALD_SECRET_KEY` rotation without loss: emails sealed under the old
//! key go out after a rotation that keeps it in `HERALD_SECRET_KEY_PREVIOUS`,
//! and with only a wrong key they wait (nothing failed, no token erased)
//! until the right key is back.

use crate::helpers::{Options, TestApp, herald_bin, wait_until};
use crate::receiver::Receiver;
use base64::Engine;
use herald::store::SecretKey;
use herald::store::key_check;
use serde_json::json;

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Three emails with tokens, queued while the SMTP server refuses sessions,
/// sealed under the app's key; the worker is then stopped.
async fn queue_while_smtp_is_down() -> TestApp {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.smtp.refuse_sessions(true);
    app.start_worker();
    app.publish(
        "invite.created",
        json!({"id": "inv_1", "email": "one@example.com"}),
    )
    .await;
    app.publish(
        "invite.created",
        json!({"id": "inv_2", "email": "two@example.com"}),
    )
    .await;
    app.publish("user.password_reset", json!({"email": "three@example.com"}))
        .await;
    wait_until("three emails tried and waiting", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'pending' AND attempts > 0")
            .await
            == 3
    })
    .await;
    app.stop_worker().await;
    app.smtp.refuse_sessions(false);
    app
}

/// Every email arrives and its token works.
async fn all_delivered_and_usable(app: &TestApp) {
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(app.next_token().await);
    }
    wait_until("every email sent", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await
            == 3
    })
    .await;
    for (recipient, token) in tokens {
        let path = if recipient == "three@example.com" {
            "/v1/password-resets/consume"
        } else {
            "/v1/invites/validate"
        };
        let response = app.post(path, json!({ "token": token })).await;
        assert_eq!(response.status(), 200, "{recipient}'s token works");
    }
}

fn keys(current: &str, previous: Option<&str>) -> SecretKey {
    let key = SecretKey::from_base64(current).unwrap();
    match previous {
        Some(p) => key.with_previous(p).unwrap(),
        None => key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_with_the_old_one_as_previous_delivers_every_email() {
    let mut app = queue_while_smtp_is_down().await;
    let (old, new) = (app.key_b64.clone(), new_key());
    let report = key_check::check(&app.pool, &keys(&new, Some(&old)))
        .await
        .unwrap();
    assert_eq!((report.opened.clone(), report.unopened), (vec![0, 3], 0));

    app.worker_settings.keys.current = Some(new.clone());
    app.worker_settings.keys.previous = Some(old.clone());
    app.start_worker();
    all_delivered_and_usable(&app).await;

    // New emails are sealed under the new key alone.
    app.stop_worker().await;
    app.smtp.refuse_sessions(true);
    app.start_worker();
    app.publish("user.password_reset", json!({"email": "four@example.com"}))
        .await;
    wait_until("the fourth email waits", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'pending' AND attempts > 0")
            .await
            == 1
    })
    .await;
    let report = key_check::check(&app.pool, &keys(&new, Some(&old)))
        .await
        .unwrap();
    assert_eq!((report.opened, report.unopened), (vec![1, 0], 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_a_wrong_key_emails_wait_and_go_out_once_it_is_back() {
    let mut app = queue_while_smtp_is_down().await;
    let (right, wrong) = (app.key_b64.clone(), new_key());
    let receiver = Receiver::start(vec![]).await;
    let (_, secret) = app.register(&receiver.url(), &[]).await;
    app.worker_settings.targets.webhook_allow_private = true;

    app.worker_settings.keys.current = Some(wrong.clone());
    app.start_worker();
    app.publish("user.updated", json!({"id": "usr_1"})).await;
    wait_until("every email tried with the wrong key", || async {
        app.count(
            "SELECT count(DISTINCT outbox_id) FROM email_attempts WHERE outcome = 'undecryptable'",
        )
        .await
            == 3
    })
    .await;
    wait_until("the webhook waits for its key", || async {
        app.count(
            "SELECT count(*) FROM webhook_deliveries
             WHERE status = 'pending' AND attempts = 0 AND last_error LIKE '%no configured key%'",
        )
        .await
            == 1
    })
    .await;
    app.stop_worker().await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM email_outbox WHERE status = 'pending' AND token_sealed IS NOT NULL"
        )
        .await,
        3,
        "nothing failed, no token erased"
    );
    assert_eq!(app.smtp.accepted(), 0);
    assert_eq!(receiver.count(), 0);
    assert_eq!(app.count("SELECT count(*) FROM webhook_attempts").await, 0);
    let report = key_check::check(&app.pool, &keys(&wrong, None))
        .await
        .unwrap();
    // Three email tokens and the endpoint's secret.
    assert_eq!((report.opened, report.unopened), (vec![0], 4));
    let mut cmd = herald_bin();
    cmd.args(["keys", "check"])
        .envs(app.env())
        .env("HERALD_SECRET_KEY", &wrong)
        .env("HERALD_SECRET_KEY_PREVIOUS", &right);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("HERALD_SECRET_KEY_PREVIOUS #1"), "{text}");
    assert!(
        text.contains("opens 4") && text.contains("no configured key: 0"),
        "{text}"
    );
    assert!(!text.contains(&right) && !text.contains(&wrong));

    app.worker_settings.keys.current = Some(right);
    app.start_worker();
    all_delivered_and_usable(&app).await;
    let delivered = receiver.wait_for(1).await;
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(delivered[0].body.as_bytes(), &delivered[0].headers)
        .expect("signed with the endpoint's secret");
}
