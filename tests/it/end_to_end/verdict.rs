//! After a scenario: every event processed exactly once, every email and
//! webhook delivered, nothing dead-lettered, and duplicates counted.

use super::stack::Stack;
use super::stream::Expected;
use std::collections::HashMap;

/// What may be sent twice: the sends in flight where the fault struck.
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub emails: usize,
    pub webhooks: usize,
}

impl InFlight {
    /// What `workers` workers hold at once, as their settings bound it.
    pub fn of(stack: &Stack, workers: usize) -> Self {
        let s = &stack.app.worker_settings;
        InFlight {
            emails: workers * usize::from(s.email_concurrency),
            webhooks: workers * usize::from(s.webhook_per_endpoint()),
        }
    }

    pub const NONE: InFlight = InFlight {
        emails: 0,
        webhooks: 0,
    };
}

#[derive(Debug)]
pub struct Duplicates {
    pub emails: usize,
    pub webhooks: usize,
}

/// Waits for the stream to settle, checks it, and returns the duplicates.
pub async fn settle(stack: &Stack, expected: &Expected, allowed: InFlight) -> Duplicates {
    let app = &stack.app;
    stack
        .wait("every event processed", || async {
            app.processed().await >= expected.events
        })
        .await;
    stack
        .wait("every email final", || async {
            final_count(app, "email_outbox", "status <> 'pending'").await >= expected.emails
        })
        .await;
    stack
        .wait("every webhook final", || async {
            final_count(app, "webhook_deliveries", "status <> 'pending'").await >= expected.webhooks
        })
        .await;

    // Exactly once in the database.
    assert_eq!(app.processed().await, expected.events, "events processed");
    assert_eq!(
        app.count("SELECT count(*) FROM invites").await,
        expected.invites
    );
    assert_eq!(
        app.count("SELECT count(*) FROM invites WHERE status = 'accepted'")
            .await,
        expected.accepted
    );
    assert_eq!(
        app.count("SELECT count(*) FROM password_reset_tokens")
            .await,
        expected.resets
    );
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await,
        expected.emails,
        "every email sent, one outbox row per email"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
            .await,
        expected.webhooks,
        "every webhook delivered, one row per event"
    );
    let dead = app.settings.broker.dead_letter_name();
    assert_eq!(
        app.queue_len(&dead).await,
        expected.dead_letters,
        "dead letters: exactly the stream's bad events"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'failed'")
            .await,
        0,
        "no email failed"
    );
    assert_eq!(
        app.queue_len(&app.settings.broker.queue).await,
        0,
        "queue drained"
    );

    // Delivered at least once, and at most once more while in flight.
    let emails = message_ids(app).await;
    assert_eq!(
        emails.len() as i64,
        expected.emails,
        "every email at the sink"
    );
    let outbox: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM email_outbox")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    for id in outbox {
        assert!(
            emails.contains_key(&id.to_string()),
            "email {id} never arrived"
        );
    }
    let webhooks = count_by(
        stack
            .receiver
            .received()
            .iter()
            .map(|r| r.headers["webhook-id"].to_str().unwrap().to_owned()),
    );
    assert_eq!(
        webhooks.len() as i64,
        expected.webhooks,
        "every webhook at the receiver"
    );
    let duplicates = Duplicates {
        emails: extra(&emails),
        webhooks: extra(&webhooks),
    };
    eprintln!("duplicates: {duplicates:?} (allowed {allowed:?})");
    assert!(duplicates.emails <= allowed.emails, "{duplicates:?}");
    assert!(duplicates.webhooks <= allowed.webhooks, "{duplicates:?}");
    duplicates
}

async fn final_count(app: &crate::helpers::TestApp, table: &str, filter: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table} WHERE {filter}");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// How often each outbox id arrived at the sink (from the Message-ID).
async fn message_ids(app: &crate::helpers::TestApp) -> HashMap<String, usize> {
    let received = app.smtp.drain().await;
    count_by(received.iter().map(|r| {
        let message = mail_parser::MessageParser::default()
            .parse(&r.data)
            .expect("valid MIME");
        let id = message.message_id().expect("a Message-ID");
        id.split('@').next().unwrap().to_owned()
    }))
}

fn count_by(keys: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn extra(counts: &HashMap<String, usize>) -> usize {
    counts.values().map(|n| n - 1).sum()
}
