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

async fn relay_until_error(
    settings: &Settings,
    pool: &PgPool,
    wake: &Notify,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut channel = None;
    loop {
        // One row at a time: each is deleted only after its confirm, in the
        // transaction holding its lock, so replicas never publish it twice.
        let mut tx = pool.begin().await?;
        let row: Option<(Uuid, String, Value)> = sqlx::query_as(
            "SELECT id, routing_key, body FROM event_outbox ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, routing_key, body)) = row else {
            drop(tx);
            tokio::select! {
                _ = wake.notified() => continue,
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                _ = cancel.cancelled() => return Ok(()),
            }
        };
        if channel.is_none() {
            let conn = intake::connect(&settings.amqp_url, "relay")
                .await
                .context("connecting to RabbitMQ")?;
            let ch = conn.create_channel().await?;
            ch.confirm_select(ConfirmSelectOptions::default()).await?;
            channel = Some((ch, conn));
        }
        let (ch, _) = channel.as_ref().expect("connected above");
        let event_id = id.to_string();
        intake::publisher::publish_body(ch, settings, &routing_key, &event_id, &body).await?;
        sqlx::query("DELETE FROM event_outbox WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(event.id = %event_id, event.type = %routing_key, "published");
    }
}
