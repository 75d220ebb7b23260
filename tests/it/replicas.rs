//! Several workers on one queue and one database: every event processed
//! once, every email sent, even when one worker dies mid-stream.

use crate::helpers::{TestApp, wait_until};
use serde_json::json;
use std::collections::HashSet;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_process_every_event_once_when_one_dies() {
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::spawn(herald::app::run_with_listener(
        app.worker_settings.clone(),
        listener,
        CancellationToken::new(),
    ));
    const N: i64 = 600;
    for i in 0..N {
        app.publish(
            "invite.created",
            json!({"id": format!("inv_{i}"), "email": format!("r{i}@example.com")}),
        )
        .await;
    }
    wait_until("the stream is under way", || async {
        app.processed().await >= 100
    })
    .await;
    second.abort();
    let _ = second.await;

    app.wait_processed(N).await;
    assert_eq!(app.count("SELECT count(*) FROM invites").await, N);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox").await,
        N,
        "one email row per event"
    );
    let mut recipients = HashSet::new();
    let mut received = 0;
    while recipients.len() < N as usize {
        for r in app.smtp.next_email().await.rcpt_to {
            recipients.insert(r);
            received += 1;
        }
    }
    wait_until("every email final", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status <> 'sent'")
            .await
            == 0
    })
    .await;
    received += app.smtp.drain().await.len();
    // A send cut short by the dying replica may go out again: never more
    // than what it had in flight.
    let in_flight = usize::from(app.worker_settings.email_concurrency);
    assert!(
        received <= N as usize + in_flight,
        "{received} emails for {N} events"
    );
    assert_eq!(app.queue_len(&app.settings.dead_letter_name()).await, 0);
}
