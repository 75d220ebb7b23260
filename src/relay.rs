//! Events Herald publishes itself (`invite.accepted` after an API accept).
//! They are written to `event_outbox` in the transaction that makes the
//! change, and relayed here with publisher confirms: the change stands even
//! while the broker is down, and its event goes out once it is back.

use crate::settings::Settings;
use crate::{intake, retry};
use anyhow::Context as _;
use lapin::options::ConfirmSelectOptions;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Queues a CloudEvent for publishing once the caller's transaction commits.
pub async fn enqueue(conn: &mut PgConnection, event_type: &str, data: Value) -> sqlx::Result<()> {
    let id = Uuid::now_v7();
    let body = intake::publisher::cloud_event("herald", event_type, &id.to_string(), data);
    sqlx::query("INSERT INTO event_outbox (id, routing_key, body) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(event_type)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

/// Publishes queued events until `cancel`, reconnecting as needed.
pub async fn run(
    settings: Settings,
    pool: PgPool,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = retry::backoff();
    while !cancel.is_cancelled() {
        match relay_until_error(&settings, &pool, &wake, &cancel).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "event relay paused; retrying");
                if !retry::pause(backoff.next(), &cancel).await {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Rows leased per round.
const BATCH: i64 = 64;
/// Outlives a round of publishes; a dead worker's rows come back after it.
const LEASE: Duration = Duration::from_secs(30);
/// Longest wait before a failing row is tried again.
const MAX_DELAY: Duration = Duration::from_secs(300);

#[derive(sqlx::FromRow)]
struct Leased {
    id: Uuid,
    routing_key: String,
    body: Value,
    attempts: i32,
}

async fn relay_until_error(
    settings: &Settings,
    pool: &PgPool,
    wake: &Notify,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut channel = None;
    while !cancel.is_cancelled() {
        // Leased in a statement of its own: no transaction stays open across
        // a publish, and replicas never take the same row.
        let rows: Vec<Leased> = sqlx::query_as(
            "UPDATE event_outbox o SET lease_until = now() + $2::interval, attempts = o.attempts + 1
             FROM (SELECT id FROM event_outbox
                   WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) due
             WHERE o.id = due.id
             RETURNING o.id, o.routing_key, o.body, o.attempts",
        )
        .bind(BATCH)
        .bind(crate::store::pg_interval(LEASE))
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = cancel.cancelled() => {}
            }
            continue;
        }
        if channel.is_none() {
            let conn = intake::connect(&settings.amqp_url, "relay")
                .await
                .context("connecting to RabbitMQ")?;
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            channel = Some((ch, conn));
        }
        let (ch, conn) = channel.as_ref().expect("connected above");
        for row in rows {
            let event_id = row.id.to_string();
            match intake::publisher::publish_body(
                ch,
                settings,
                &row.routing_key,
                &event_id,
                &row.body,
            )
            .await
            {
                Ok(()) => {
                    retry::until_recorded("removing a relayed event", cancel, || async {
                        sqlx::query("DELETE FROM event_outbox WHERE id = $1")
                            .bind(row.id)
                            .execute(pool)
                            .await
                            .map(drop)
                    })
                    .await;
                    tracing::info!(event.id = %event_id, event.type = %row.routing_key, "published");
                }
                // The channel or connection is gone: every row waits for the
                // next session (their leases lapse meanwhile).
                Err(e) if !conn.status().connected() || !ch.status().connected() => return Err(e),
                // This row alone was refused (not routable, not confirmed).
                Err(e) => back_off(pool, &row, &e, cancel).await,
            }
        }
    }
    Ok(())
}

/// Puts a refused row back with a delay that doubles with its attempts.
async fn back_off(pool: &PgPool, row: &Leased, e: &anyhow::Error, cancel: &CancellationToken) {
    let doubled = Duration::from_secs(1).saturating_mul(1 << row.attempts.clamp(0, 16));
    let delay = doubled.min(MAX_DELAY);
    let error = crate::store::recordable(&format!("{e:#}"), 1024);
    tracing::warn!(event.id = %row.id, event.type = %row.routing_key, error, ?delay,
        "relaying an event failed; it backs off alone");
    metrics::counter!("herald_relay_failures_total").increment(1);
    retry::until_recorded("rescheduling a relayed event", cancel, || async {
        sqlx::query(
            "UPDATE event_outbox SET lease_until = NULL, next_attempt_at = now() + $2::interval,
                    last_error = $3 WHERE id = $1",
        )
        .bind(row.id)
        .bind(crate::store::pg_interval(delay))
        .bind(&error)
        .execute(pool)
        .await
        .map(drop)
    })
    .await;
}
