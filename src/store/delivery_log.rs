//! The delivery log: everything one event caused (its emails and webhook
//! deliveries, with every attempt), and the search for a person's events.
//! Public so the API, the CLI and the console share them. No token, sealed
//! value or endpoint secret is ever read here.

use super::email_outbox::{EmailWithAttempts, read};
use super::webhook_deliveries::{AttemptOutcome, DeliveryStatus};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// The event's own time: as it arrived, else its emails' (rows recorded
/// before the time was kept), else when it was processed.
const SELECT_EVENT: &str = "SELECT p.event_id AS id, p.event_type,
        COALESCE(p.event_time,
                 (SELECT min(o.event_time) FROM email_outbox o WHERE o.event_id = p.event_id),
                 p.processed_at) AS time,
        p.processed_at
    FROM processed_events p";

#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub time: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
}

/// One webhook attempt.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct WebhookAttempt {
    #[serde(skip)]
    pub delivery_id: Uuid,
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub outcome: AttemptOutcome,
    /// Why no answer came (timeout, refused connection, …).
    pub error: Option<String>,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub endpoint_url: String,
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Oldest first.
    #[sqlx(skip)]
    pub attempts: Vec<WebhookAttempt>,
}

/// `{"event","emails","webhooks"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub event: Event,
    pub emails: Vec<EmailWithAttempts>,
    pub webhooks: Vec<WebhookDelivery>,
}

/// Everything the event caused; `None` when Herald never processed it.
pub async fn for_event(pool: &PgPool, id: &str) -> sqlx::Result<Option<DeliveryLog>> {
    if !super::matchable(id) {
        return Ok(None);
    }
    let event: Option<Event> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_EVENT} WHERE p.event_id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(event) = event else {
        return Ok(None);
    };
    Ok(Some(DeliveryLog {
        emails: read::for_event(pool, id).await?,
        webhooks: webhooks_for_event(pool, id).await?,
        event,
    }))
}

/// The event's webhook deliveries, oldest first, with their attempts.
pub async fn webhooks_for_event(pool: &PgPool, id: &str) -> sqlx::Result<Vec<WebhookDelivery>> {
    let mut deliveries: Vec<WebhookDelivery> = sqlx::query_as(
        "SELECT d.id, d.endpoint_id, e.url AS endpoint_url, d.status, d.attempts AS attempt_count,
                d.last_error, d.created_at, d.finished_at
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.event_id = $1 ORDER BY d.created_at, d.id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
    let attempts: Vec<WebhookAttempt> = sqlx::query_as(
        "SELECT delivery_id, attempt, attempted_at AS at, status_code, latency_ms, outcome, error
         FROM webhook_attempts WHERE delivery_id = ANY($1) ORDER BY attempted_at, attempt",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for d in &mut deliveries {
        d.attempts = attempts
            .iter()
            .filter(|a| a.delivery_id == d.id)
            .cloned()
            .collect();
    }
    Ok(deliveries)
}

/// What `events` selects; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// A person's address (ignoring case): events that emailed it, minted a
    /// reset token for it, or concern an invite to it.
    pub email: Option<String>,
    pub event_type: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// A page of processed events, newest first, and how many match in all.
pub async fn events(pool: &PgPool, filter: &EventFilter) -> sqlx::Result<(Vec<Event>, i64)> {
    let given = [&filter.email, &filter.event_type];
    if !given.iter().copied().flatten().all(|v| super::matchable(v)) {
        return Ok((Vec::new(), 0));
    }
    const WHERE: &str = "WHERE ($2::text IS NULL OR p.event_type = $2)
          AND ($1::text IS NULL OR p.event_id IN (
              SELECT event_id FROM email_outbox WHERE lower(recipient) = lower($1)
              UNION SELECT event_id FROM password_reset_tokens WHERE lower(email) = lower($1)
              UNION SELECT q.event_id FROM processed_events q JOIN invites i ON i.id = q.invite_id
                    WHERE lower(i.email) = lower($1)))";
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM processed_events p {WHERE}"
    )))
    .bind(&filter.email)
    .bind(&filter.event_type)
    .fetch_one(pool)
    .await?;
    let events = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_EVENT} {WHERE} ORDER BY p.processed_at DESC, p.event_id LIMIT $3 OFFSET $4"
    )))
    .bind(&filter.email)
    .bind(&filter.event_type)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await?;
    Ok((events, count))
}
