//! Fan-out inside the event's own transaction: one delivery row per enabled
//! endpoint subscribed to the event's type, so a webhook exists exactly when
//! the event's effects are committed.

use super::payload;
use crate::events::Meta;
use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

/// The channel the dispatcher listens on; PostgreSQL delivers the
/// notification at commit, so it never wakes a dispatcher for rows it cannot see.
pub const WAKE_CHANNEL: &str = "herald_webhooks";

const INVITE_EVENTS: [&str; 4] = [
    "invite.created",
    "invite.resent",
    "invite.accepted",
    "invite.deleted",
];

pub async fn fan_out(conn: &mut PgConnection, meta: &Meta<'_>) -> sqlx::Result<()> {
    let envelope = meta.envelope;
    // KEY SHARE holds off an endpoint's removal until this transaction ends,
    // and skips one removed since it began: its delivery rows always have
    // their endpoint, so a removal never makes a valid event look refused.
    let endpoints: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM webhook_endpoints
         WHERE enabled AND (cardinality(event_types) = 0 OR $1 = ANY(event_types))
         FOR KEY SHARE",
    )
    .bind(&envelope.event_type)
    .fetch_all(&mut *conn)
    .await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let invite = if INVITE_EVENTS.contains(&envelope.event_type.as_str()) {
        invite_fields(conn, envelope.data.get("id")).await?
    } else {
        None
    };
    let body = payload::build(&envelope.event_type, meta.time, &envelope.data, invite);
    let ids: Vec<Uuid> = endpoints.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body)
         SELECT d.id, d.endpoint_id, $3, $4, $5 FROM unnest($1::uuid[], $2::uuid[]) AS d(id, endpoint_id)
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&endpoints)
    .bind(envelope.id.as_str())
    .bind(&envelope.event_type)
    .bind(&body)
    .execute(&mut *conn)
    .await?;
    crate::store::wake::notify(conn, WAKE_CHANNEL).await
}

/// The invite as the handler left it; `expired` for a pending invite past its expiry.
async fn invite_fields(
    conn: &mut PgConnection,
    id: Option<&Value>,
) -> sqlx::Result<Option<Map<String, Value>>> {
    let Some(Value::String(id)) = id else {
        return Ok(None);
    };
    let row: Option<Value> = sqlx::query_scalar(
        "SELECT jsonb_build_object(
             'id', id, 'email', email, 'role', role,
             'status', CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END,
             'expires_at', expires_at)
         FROM invites WHERE id = $1",
    )
    .bind(id.trim())
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|v| match v {
        Value::Object(map) => Some(map),
        _ => None,
    }))
}
