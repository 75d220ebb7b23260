//! Dispatchers are woken by the commit that gives them work, not by their
//! poll: with the email poll set to an hour, each email still goes out.

use crate::helpers::{Options, TestApp};
use herald::email::{EmailDispatcher, EmailSettings, Mailer};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_email_wakes_the_dispatcher() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let s = app.worker_settings.clone();
    let pool = herald::app::prepare_database(&s.database, &s.keys)
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let ctx = herald::events::Context {
        invite_ttl: chrono::Duration::days(1),
        reset_ttl: chrono::Duration::hours(1),
        key: app.key.clone(),
        email_rate_limit: s.email_rate_limit,
    };
    let consumer = {
        let (s, pool, cancel) = (s.clone(), pool.clone(), cancel.clone());
        tokio::spawn(async move {
            herald::intake::consume(&s, &pool, &ctx, &Default::default(), &cancel).await
        })
    };
    let mut settings = EmailSettings::from_settings(&s).unwrap();
    settings.poll = Duration::from_secs(3600);
    let dispatcher = Arc::new(EmailDispatcher {
        pool: pool.clone(),
        mailer: Mailer::from_url(&s.smtp_url, s.smtp_timeout, 4).unwrap(),
        templates: herald::app::load_templates(&s).unwrap(),
        key: app.key.clone(),
        settings,
    });
    let emails = tokio::spawn(dispatcher.run(cancel.clone()));

    // The first may be found by the dispatcher's first claim; by the second
    // it has found nothing more and waits, so only the wake-up can send it.
    for to in ["first@example.com", "second@example.com"] {
        app.publish("user.password_reset", json!({"email": to}))
            .await;
        assert_eq!(app.smtp.next_email().await.rcpt_to, [to]);
    }

    cancel.cancel();
    consumer.await.unwrap().unwrap();
    emails.await.unwrap().unwrap();
    pool.close().await;
}
