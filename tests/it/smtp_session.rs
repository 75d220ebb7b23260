//! SMTP session refusals are about the relay, not the message; one deadline
//! bounds a whole send; a late worker's record never overwrites a newer one.

use crate::helpers::{TestApp, wait_until};
use herald::email::{Mailer, SendOutcome};
use herald::store::email_outbox::{self, Attempt, EmailStatus, Next, Record};
use lettre::Message;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

fn message() -> Message {
    Message::builder()
        .from("Herald <no-reply@example.test>".parse().unwrap())
        .to("ada@example.test".parse().unwrap())
        .subject("hello")
        .body("hi".to_owned())
        .unwrap()
}

#[tokio::test]
async fn a_refusal_at_the_greeting_is_the_relays_not_the_messages() {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    sink.refuse_sessions(true);
    let url = format!("smtp://{}", sink.addr);
    let mailer = Mailer::from_url(&url, Duration::from_secs(2), 1).unwrap();
    match mailer.send(message()).await {
        SendOutcome::Unreachable { code, detail } => {
            assert_eq!(code, Some(554));
            assert!(detail.contains("refused the session"), "{detail}");
        }
        other => panic!("a session refusal is not a verdict on the message: {other:?}"),
    }
}

#[tokio::test]
async fn one_deadline_bounds_a_send_to_a_relay_that_never_greets() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and keeps every connection open, never saying a word.
    let silent = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let timeout = Duration::from_millis(500);
    let mailer = Mailer::from_url(&format!("smtp://{addr}"), timeout, 1).unwrap();
    let started = Instant::now();
    let outcome = mailer.send(message()).await;
    let took = started.elapsed();
    silent.abort();
    assert!(
        matches!(outcome, SendOutcome::Unreachable { .. }),
        "{outcome:?}"
    );
    assert!(
        took >= timeout && took < timeout * 3,
        "the deadline, not more: {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_waits_out_a_relay_refusing_sessions_with_its_token_and_schedule_intact() {
    let app = TestApp::spawn().await;
    app.smtp.refuse_sessions(true);
    app.publish(
        "invite.created",
        json!({"id": "inv_r", "email": "ada@example.test"}),
    )
    .await;
    wait_until("two refused attempts recorded", || async {
        app.count(
            "SELECT count(*) FROM email_attempts WHERE smtp_code = 554 AND outcome = 'transient'",
        )
        .await
            >= 2
    })
    .await;
    let (status, sealed, retries): (String, bool, i32) =
        sqlx::query_as("SELECT status, token_sealed IS NOT NULL, retries_used FROM email_outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), sealed, retries), ("pending", true, 0));
    app.smtp.refuse_sessions(false);
    let email = app.smtp.next_email().await;
    assert_eq!(email.rcpt_to, ["ada@example.test"]);
    wait_until("the email recorded as sent", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await
            == 1
    })
    .await;
}

#[tokio::test]
async fn a_late_workers_record_never_overwrites_a_newer_claim() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO email_outbox (id, event_id, event_time, template, recipient, data)
         VALUES ($1, 'evt', now(), 'welcome', 'ada@example.test', '{}')",
    )
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let lease = Duration::from_secs(60);
    let first = email_outbox::claim(&app.pool, 1, lease, &[], app.settings.email_rate_limit)
        .await
        .unwrap();
    // The first worker's lease lapses; a second worker claims the row.
    sqlx::query("UPDATE email_outbox SET lease_until = now() - interval '1 s'")
        .execute(&app.pool)
        .await
        .unwrap();
    let second = email_outbox::claim(&app.pool, 1, lease, &[], app.settings.email_rate_limit)
        .await
        .unwrap();
    let attempts = |claimed: &[Result<_, _>]| match &claimed[0] {
        Ok(email_outbox::Claimed { attempts, .. }) => *attempts,
        Err(unreadable) => panic!("{unreadable:?}"),
    };
    assert_eq!((attempts(&first), attempts(&second)), (1, 2));
    let sent = |detail: &str| Attempt {
        outcome: "sent",
        code: Some(250),
        detail: detail.to_owned(),
    };
    let retry = || Next::Retry {
        delay: Duration::from_secs(60),
        used_retry: true,
    };
    let record = |attempt_no: i32, attempt: Attempt, next: Next| {
        let one = Record {
            id,
            attempt_no,
            attempt,
            next,
        };
        let pool = app.pool.clone();
        async move { email_outbox::record_many(&pool, &[one]).await.unwrap() }
    };
    // The late first worker reports a failure: it changes nothing.
    let failed = Attempt {
        outcome: "permanent",
        code: Some(550),
        detail: "late".into(),
    };
    record(
        1,
        failed,
        Next::Finish {
            status: EmailStatus::Failed,
        },
    )
    .await;
    record(1, sent("late"), retry()).await;
    let state = || async {
        sqlx::query_as::<_, (String, i32)>("SELECT status, retries_used FROM email_outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(state().await, ("pending".to_owned(), 0));
    // The worker holding the current claim records its result.
    record(
        2,
        sent("250 ok"),
        Next::Finish {
            status: EmailStatus::Sent,
        },
    )
    .await;
    assert_eq!(state().await.0, "sent");
    // Every attempt is kept as history, the late ones included.
    assert_eq!(app.count("SELECT count(*) FROM email_attempts").await, 3);
    // A row that is gone ends the record instead of failing it forever.
    sqlx::query("DELETE FROM email_outbox")
        .execute(&app.pool)
        .await
        .unwrap();
    record(3, sent("gone"), retry()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_with_nul_bytes_and_invalid_utf8_are_recorded_safely() {
    use crate::smtp_sink::Reply::Raw;
    let app = TestApp::spawn().await;
    // A reply the client cannot read is retried; one it can read judges.
    app.smtp.script(&[
        Raw(b"250 2.0.0 queued \xff\xfe\r\n"),
        Raw(b"550 5.1.1 no\0such user\r\n"),
    ]);
    app.publish(
        "user.created",
        json!({"id": "usr_nul", "email": "nul@example.test"}),
    )
    .await;
    wait_until("the email final", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status <> 'pending'")
            .await
            == 1
    })
    .await;
    let attempts: Vec<(String, Option<i32>, String)> =
        sqlx::query_as("SELECT outcome, smtp_code, detail FROM email_attempts ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].0, "transient", "{attempts:?}");
    assert_eq!(
        (attempts[1].0.as_str(), attempts[1].1),
        ("permanent", Some(550))
    );
    assert!(attempts[1].2.contains("no such user"), "{attempts:?}");
    assert!(attempts.iter().all(|a| !a.2.contains('\0')));
}
