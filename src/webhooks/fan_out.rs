//! Fan-out inside the event's own transaction: one delivery row per enabled
//! endpoint subscribed to the event's type, so a webhook exists exactly when
//! the event's effects are committed.

use super::payload;
use crate::events::Meta;
use crate::store::webhook_deliveries::{self, NewDelivery};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use uuid::Uuid;

/// The channel the dispatcher listens on; PostgreSQL delivers the
/// notification at commit, so it never wakes a dispatcher for rows it cannot see.
pub const WAKE_CHANNEL: &str = crate::store::WEBHOOK_WAKE_CHANNEL;

const INVITE_EVENTS: [&str; 4] = [
    "invite.created",
    "invite.resent",
    "invite.accepted",
    "invite.deleted",
];

/// The enabled endpoints and the types each subscribes to (none: every
/// type), read once for a window of events. KEY SHARE holds off an
/// endpoint's removal until the transaction ends, and skips one removed
/// since it began: its delivery rows always have their endpoint, so a
/// removal never makes a valid event look refused.
pub struct Subscribers(Vec<(Uuid, Vec<String>)>);

impl Subscribers {
    pub async fn load(conn: &mut PgConnection) -> sqlx::Result<Self> {
        let rows = sqlx::query_as(
            "SELECT id, event_types FROM webhook_endpoints WHERE enabled FOR KEY SHARE",
        )
        .fetch_all(conn)
        .await?;
        Ok(Subscribers(rows))
    }

    fn of(&self, event_type: &str) -> Vec<Uuid> {
        self.0
            .iter()
            .filter(|(_, types)| types.is_empty() || types.iter().any(|t| t == event_type))
            .map(|(id, _)| *id)
            .collect()
    }
}

/// One delivery row per subscribed endpoint, in the event's transaction;
/// an invite event's body carries the invite as the handler left it, read
/// back. The caller wakes the dispatcher once for its whole transaction.
pub async fn fan_out(
    conn: &mut PgConnection,
    meta: &Meta<'_>,
    subscribers: &Subscribers,
) -> sqlx::Result<()> {
    let envelope = meta.envelope;
    if subscribers.of(&envelope.event_type).is_empty() {
        return Ok(());
    }
    let invite = if INVITE_EVENTS.contains(&envelope.event_type.as_str()) {
        invite_fields(conn, envelope.data.get("id")).await?
    } else {
        None
    };
    fan_out_all(conn, &[(meta, invite)], subscribers).await
}

/// The delivery rows of many events in one statement, each body built from
/// its event and the fields its handler's statement returned.
pub async fn fan_out_all(
    conn: &mut PgConnection,
    events: &[(&Meta<'_>, Option<Map<String, Value>>)],
    subscribers: &Subscribers,
) -> sqlx::Result<()> {
    let mut rows = Vec::new();
    for (meta, fields) in events {
        let envelope = meta.envelope;
        let subscribed = subscribers.of(&envelope.event_type);
        if subscribed.is_empty() {
            continue;
        }
        let body = payload::build(
            &envelope.event_type,
            meta.time,
            &envelope.data,
            fields.clone(),
        );
        for endpoint in subscribed {
            rows.push(NewDelivery {
                endpoint,
                event_id: envelope.id.as_str(),
                event_type: envelope.event_type.as_str(),
                body: body.clone(),
            });
        }
    }
    webhook_deliveries::insert(conn, &rows).await
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
