//! Fresh names on the real services, Herald's settings for them, the events
//! to publish, and the clean-up that leaves the broker as it was.

use base64::Engine;
use clap::Parser;
use herald::settings::Settings;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::net::SocketAddr;

pub const PG: &str = "postgres://postgres@127.0.0.1:5432";
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Confirms are awaited once per this many publishes.
const CONFIRM_BATCH: usize = 2_000;

/// Everything created on the services, so it can all be removed.
pub struct Names {
    pub run: String,
    /// HERALD_SECRET_KEY, shared by Herald and the bench's own transactions.
    key: String,
    pub databases: Vec<String>,
    pub queues: Vec<String>,
    pub exchanges: Vec<String>,
}

impl Names {
    pub fn new() -> Self {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).expect("OS randomness");
        Names {
            databases: vec![
                format!("herald_bench_{run}"),
                format!("herald_bench_{run}_tx"),
            ],
            queues: vec![
                format!("herald.bench.{run}"),
                format!("herald.bench.{run}.dead-letter"),
                format!("bench.{run}.scratch"),
            ],
            exchanges: vec![
                format!("bench.{run}"),
                format!("herald.bench.{run}.dead-letter"),
            ],
            key: base64::engine::general_purpose::STANDARD.encode(key),
            run,
        }
    }

    /// `herald run`'s arguments for this run, on database `db`.
    pub fn args(&self, db: &str, smtp: SocketAddr) -> Vec<String> {
        [
            "--database-url",
            &format!("{PG}/{db}"),
            "--amqp-url",
            AMQP,
            "--exchange",
            &self.exchanges[0],
            "--queue",
            &self.queues[0],
            "--secret-key",
            &self.key,
            "--smtp-url",
            &format!("smtp://{smtp}"),
            "--templates-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
            "--link-base-url",
            "https://admin.example.test/app",
            "--email-retry-schedule",
            "100ms,100ms,100ms",
            "--webhook-retry-schedule",
            "100ms,100ms,100ms",
            "--email-rate-limit",
            "0",
            "--webhook-allow-private",
            "true",
            "--http-addr",
            "127.0.0.1:0",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// Drops the databases and deletes the queues and exchanges, whatever
    /// state the run ended in.
    pub async fn clean_up(&self) {
        eprintln!("cleaning up");
        if let Ok(conn) = herald::intake::connect(AMQP, "bench-cleanup").await
            && let Ok(ch) = conn.create_channel().await
        {
            for q in &self.queues {
                let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
            }
            for x in &self.exchanges {
                let _ = ch
                    .exchange_delete(x.as_str().into(), Default::default())
                    .await;
            }
            let _ = conn.close(200, "cleaned up".into()).await;
        }
        if let Ok(pool) = PgPool::connect(&format!("{PG}/postgres")).await {
            for db in &self.databases {
                let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
            }
            pool.close().await;
        }
    }
}

/// The settings `herald run <args>` runs with (`HERALD_*` from the
/// environment included, as in Herald's process).
pub fn settings(args: &[String]) -> Settings {
    let argv = ["herald", "run"].into_iter().map(str::to_owned);
    herald::cli::Cli::try_parse_from(argv.chain(args.iter().cloned()))
        .expect("bench settings parse")
        .command
        .into_run_settings()
        .expect("parsed `run`")
}

/// One event to publish, and what it should cause.
pub struct Event {
    pub event_type: &'static str,
    pub body: Vec<u8>,
    /// The recipient when the event sends an email.
    pub email: Option<String>,
}

/// Which events a run publishes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// `invite.created` only: an email and a webhook each.
    Invites,
    /// Every kind, in a repeating pattern of ten.
    Mixed,
    /// `user.updated` only: a webhook each, no email.
    WebhooksOnly,
}

impl Mix {
    pub fn name(self) -> &'static str {
        match self {
            Mix::Invites => "invite.created",
            Mix::Mixed => "mixed kinds",
            Mix::WebhooksOnly => "user.updated, webhooks only",
        }
    }
}

/// `n` events of `mix`. `tag` keeps ids and addresses unique across phases.
pub fn events(n: usize, mix: Mix, tag: &str) -> Vec<Event> {
    (0..n).map(|i| event(i, mix, tag)).collect()
}

fn event(i: usize, mix: Mix, tag: &str) -> Event {
    let invite = |k: usize| (format!("inv-{tag}-{k}"), format!("u{k}.{tag}@bench.test"));
    let slot = match mix {
        Mix::Invites => 0,
        Mix::Mixed => i % 10,
        Mix::WebhooksOnly => 7,
    };
    let (ty, data, email) = match slot {
        // Resends and accepts refer to invites created earlier in the same ten.
        3 => {
            let (id, email) = invite(i - 3);
            ("invite.resent", json!({"id": id}), Some(email))
        }
        4 => ("invite.accepted", json!({"id": invite(i - 3).0}), None),
        5 => {
            let email = format!("r{i}.{tag}@bench.test");
            let data =
                json!({"email": email, "user_id": format!("usr-r-{tag}-{i}"), "first_name": "Ada"});
            ("user.password_reset", data, Some(email))
        }
        6 => {
            let email = format!("w{i}.{tag}@bench.test");
            let data = json!({"id": format!("usr-{tag}-{i}"), "email": email, "first_name": "Ada"});
            ("user.created", data, Some(email))
        }
        7 => (
            "user.updated",
            json!({"id": format!("usr-{tag}-{}", i.saturating_sub(1))}),
            None,
        ),
        8 => {
            let data = json!({"id": format!("usr-d-{tag}-{i}"), "email": format!("d{i}.{tag}@bench.test")});
            ("user.deleted", data, None)
        }
        _ => {
            let (id, email) = invite(i);
            let data = json!({"id": id, "email": email, "role": "member", "first_name": "Ada",
                              "invited_by": "grace@example.com"});
            ("invite.created", data, Some(email))
        }
    };
    Event {
        event_type: ty,
        body: cloud_event(ty, &format!("evt-{tag}-{i}"), data),
        email,
    }
}

fn cloud_event(ty: &str, id: &str, data: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "specversion": "1.0", "id": id, "source": "bench", "type": ty,
        "time": chrono::Utc::now().to_rfc3339(), "datacontenttype": "application/json",
        "data": data,
    }))
    .expect("JSON")
}

pub fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/cloudevents+json".into())
        .with_delivery_mode(2)
}

/// A channel in confirm mode.
pub async fn confirming_channel(conn: &lapin::Connection) -> anyhow::Result<Channel> {
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    Ok(ch)
}

/// Publishes every event, awaiting the confirms in batches.
pub async fn publish_all(
    ch: &Channel,
    exchange: &str,
    routing: Option<&str>,
    events: &[Event],
) -> anyhow::Result<()> {
    for batch in events.chunks(CONFIRM_BATCH) {
        for e in batch {
            publish_one(ch, exchange, routing.unwrap_or(e.event_type), &e.body).await?;
        }
        let returned = ch.wait_for_confirms().await?;
        anyhow::ensure!(returned.is_empty(), "the broker returned messages");
    }
    Ok(())
}

/// Hands one message to the broker without waiting for its confirm.
pub async fn publish_one(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
) -> anyhow::Result<()> {
    ch.basic_publish(
        exchange.into(),
        key.into(),
        BasicPublishOptions::default(),
        body,
        properties(),
    )
    .await?;
    Ok(())
}
