//! Events Herald announces about its own work (`email.sent`, `email.failed`,
//! `webhook.endpoint.disabled`, `invite.accepted`), written in the caller's
//! transaction, beside the outcome they announce: an `event_outbox` row the
//! relay publishes to the exchange (routing key = the type), and one
//! webhook delivery per enabled endpoint that names the type in its list.
//! Endpoints subscribed to every type do not get them: they hear about the
//! events Herald consumes, not about Herald's own bookkeeping.

use super::event_outbox::{self, NewEvent};
use super::wake;
use super::webhook_deliveries::{self, NewDelivery};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// The relay listens here; PostgreSQL delivers the notification at commit.
pub const RELAY_WAKE_CHANNEL: &str = "herald_relay";
/// The webhook dispatcher listens here.
pub const WEBHOOK_WAKE_CHANNEL: &str = "herald_webhooks";
/// Herald's announcements about its own work. No queue of Herald's is
/// bound to them, and one nobody listens to is dropped by the broker.
pub const LIFECYCLE_EVENTS: [&str; 3] = ["email.sent", "email.failed", "webhook.endpoint.disabled"];
/// The CloudEvents `source` of every event Herald publishes itself.
const SOURCE: &str = "herald";

/// One event to announce. `data` never holds a token or secret.
pub struct Announcement {
    pub event_type: &'static str,
    pub data: Value,
}

/// Queues `announcements` for the relay and the subscribed endpoints, in
/// the caller's transaction, and wakes both at commit.
pub async fn announce(conn: &mut PgConnection, announcements: &[Announcement]) -> sqlx::Result<()> {
    if announcements.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let ids = publish_later(conn, announcements, now).await?;
    fan_out(conn, announcements, &ids, now).await
}

/// Queues `announcements` for the relay only: for the events Herald also
/// consumes (`invite.accepted`), whose webhooks the intake fans out.
/// Returns the events' ids.
pub async fn publish_later(
    conn: &mut PgConnection,
    announcements: &[Announcement],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = announcements.iter().map(|_| Uuid::now_v7()).collect();
    let events: Vec<NewEvent> = announcements
        .iter()
        .zip(&ids)
        .map(|(a, id)| NewEvent {
            id: *id,
            routing_key: a.event_type,
            body: json!({
                "specversion": "1.0",
                "id": id.to_string(),
                "source": SOURCE,
                "type": a.event_type,
                "time": now.to_rfc3339(),
                "datacontenttype": "application/json",
                "data": a.data,
            }),
        })
        .collect();
    event_outbox::insert(conn, &events).await?;
    wake::notify(conn, RELAY_WAKE_CHANNEL).await?;
    Ok(ids)
}

/// One webhook delivery per enabled endpoint naming the type.
async fn fan_out(
    conn: &mut PgConnection,
    announcements: &[Announcement],
    ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let types: Vec<&str> = announcements.iter().map(|a| a.event_type).collect();
    // KEY SHARE, as the event fan-out does: an endpoint removed meanwhile
    // is skipped instead of failing the outcome's transaction.
    let endpoints: Vec<(Uuid, Vec<String>)> = sqlx::query_as(
        "SELECT id, event_types FROM webhook_endpoints
         WHERE enabled AND event_types && $1::text[] FOR KEY SHARE",
    )
    .bind(&types)
    .fetch_all(&mut *conn)
    .await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let event_ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let mut rows = Vec::new();
    for (announcement, event_id) in announcements.iter().zip(&event_ids) {
        let body = json!({"type": announcement.event_type, "timestamp": timestamp,
                          "data": announcement.data})
        .to_string();
        for (endpoint, subscribed) in &endpoints {
            if subscribed.iter().any(|t| t == announcement.event_type) {
                rows.push(NewDelivery {
                    endpoint: *endpoint,
                    event_id,
                    event_type: announcement.event_type,
                    body: body.clone(),
                });
            }
        }
    }
    webhook_deliveries::insert(conn, &rows).await?;
    wake::notify(conn, WEBHOOK_WAKE_CHANNEL).await
}
