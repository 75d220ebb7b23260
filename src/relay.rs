//! Events Herald publishes itself (`invite.accepted` after an API accept).
//! They are written to `event_outbox` in the transaction that makes the
//! change, and relayed through the dispatch runner with publisher confirms:
//! the change stands even while the broker is down, and its event goes out
//! once it is back. Rows are leased, never locked across a publish, and a
//! row the broker refuses backs off alone. The table's statements are
//! `store::event_outbox`'.

use crate::settings::Settings;
use crate::store::event_outbox::{self, Leased};
use crate::store::recorder::{Recorder, WriteBatch};
use crate::store::runner::{self, Dispatch};
use crate::store::{self, wake::Wake};
use crate::{intake, retry};
use anyhow::Context as _;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Woken at commit by [`enqueue`].
pub const WAKE_CHANNEL: &str = crate::store::RELAY_WAKE_CHANNEL;
/// Publishes in flight at once (their confirms are awaited together).
const CONCURRENCY: usize = 16;
/// How often due rows are looked for without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// Outlives a publish and its record; a dead worker's rows come back after it.
const LEASE: Duration = Duration::from_secs(30);
/// One publish, confirm included.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait before a refused row is tried again.
const MAX_DELAY: Duration = Duration::from_secs(300);

/// Queues a CloudEvent for publishing once the caller's transaction
/// commits. Its webhooks come from the intake, which consumes it.
pub async fn enqueue(
    conn: &mut PgConnection,
    event_type: &'static str,
    data: Value,
) -> sqlx::Result<()> {
    let event = store::Announcement { event_type, data };
    store::announce::publish_later(conn, &[event], chrono::Utc::now())
        .await
        .map(drop)
}

/// Publishes queued events until `cancel`.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let wake = Wake::listen(&pool, WAKE_CHANNEL, POLL).await;
    let (published, removing) = Recorder::start(
        "removing relayed events",
        Published(pool.clone()),
        cancel.clone(),
    );
    let relay = Arc::new(Relay {
        settings,
        pool,
        broker: Mutex::new(Broker::default()),
        published,
    });
    runner::run(relay, CONCURRENCY, wake, cancel).await;
    // Every publish has handed in its row; the recorder ends once removed.
    removing.await?;
    Ok(())
}

struct Relay {
    settings: Settings,
    pool: PgPool,
    broker: Mutex<Broker>,
    /// Published rows, removed in batches: one statement and one commit
    /// for whatever was confirmed meanwhile, not one per event.
    published: Recorder<Uuid>,
}

/// Removes published rows in batches.
struct Published(PgPool);

impl WriteBatch<Uuid> for Published {
    async fn write(&self, ids: &[Uuid]) -> sqlx::Result<()> {
        event_outbox::delete(&self.0, ids).await
    }
}

/// The one connection the relay publishes on, opened when first needed and
/// again after it is lost, with a backoff between failed connects.
#[derive(Default)]
struct Broker {
    open: Option<(Channel, Connection)>,
    down_until: Option<Instant>,
    failures: u32,
}

impl Dispatch for Relay {
    type Row = Leased;
    const KIND: &'static str = "relay";

    fn row_id(row: &Leased) -> Uuid {
        row.id
    }

    async fn claim(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Leased>> {
        event_outbox::claim(&self.pool, limit, LEASE, held).await
    }

    async fn deliver(&self, row: Leased, cancel: CancellationToken) {
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(wait) => {
                // Not the row's fault: it waits for the broker, attempts unspent.
                return self.reschedule(&row, wait, None, &cancel).await;
            }
        };
        let event_id = row.id.to_string();
        let published = tokio::time::timeout(
            PUBLISH_TIMEOUT,
            intake::publisher::publish_body_routed(
                &channel,
                &self.settings.broker,
                &row.routing_key,
                &event_id,
                &row.body,
                // Herald's queue must take what it consumes itself; an
                // announcement may have no listener, and is then dropped.
                !store::announce::LIFECYCLE_EVENTS.contains(&row.routing_key.as_str()),
            ),
        )
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("no confirm within {PUBLISH_TIMEOUT:?}")));
        match published {
            Ok(()) => {
                // Until removed, the row is held here; were the removal
                // lost, the event would be published again (at least once).
                self.published.record(row.id).await;
                tracing::info!(event.id = %event_id, event.type = %row.routing_key, "published");
            }
            Err(e) if !channel.status().connected() => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the relay lost RabbitMQ; reconnecting"
                );
                self.broker.lock().await.open = None;
                self.reschedule(&row, Duration::from_secs(1), None, &cancel)
                    .await;
            }
            Err(e) => {
                // This row alone was refused (not routable, not confirmed).
                let doubled = Duration::from_secs(1).saturating_mul(1 << row.attempts.clamp(0, 16));
                let delay = doubled.min(MAX_DELAY);
                let error = crate::store::recordable(&format!("{e:#}"), 1024);
                tracing::warn!(event.id = %row.id, event.type = %row.routing_key, error, ?delay,
                    "relaying an event failed; it backs off alone");
                metrics::counter!("herald_relay_failures_total").increment(1);
                self.reschedule(&row, delay, Some(&error), &cancel).await;
            }
        }
    }
}

impl Relay {
    /// The open channel, or how long to wait before the broker is tried again.
    async fn channel(&self) -> Result<Channel, Duration> {
        let mut broker = self.broker.lock().await;
        if let Some((channel, conn)) = &broker.open
            && channel.status().connected()
            && conn.status().connected()
        {
            return Ok(channel.clone());
        }
        if let Some(until) = broker.down_until
            && until > Instant::now()
        {
            return Err(until - Instant::now());
        }
        match self.connect().await {
            Ok((channel, conn)) => {
                broker.failures = 0;
                broker.down_until = None;
                broker.open = Some((channel.clone(), conn));
                Ok(channel)
            }
            Err(e) => {
                broker.failures += 1;
                let wait = Duration::from_millis(100)
                    .saturating_mul(1 << broker.failures.min(6))
                    .min(Duration::from_secs(5));
                broker.down_until = Some(Instant::now() + wait);
                tracing::warn!(
                    error = format!("{e:#}"),
                    "event relay cannot reach RabbitMQ; retrying"
                );
                Err(wait)
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<(Channel, Connection)> {
        let conn = intake::connect(&self.settings.broker.amqp_url, "relay")
            .await
            .context("connecting to RabbitMQ")?;
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok((channel, conn))
    }

    /// Puts a row back, due after `delay`, with the reason when it is its own.
    async fn reschedule(
        &self,
        row: &Leased,
        delay: Duration,
        error: Option<&str>,
        cancel: &CancellationToken,
    ) {
        retry::until_recorded("rescheduling a relayed event", cancel, || {
            event_outbox::reschedule(&self.pool, row.id, delay, error)
        })
        .await;
    }
}
