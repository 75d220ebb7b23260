//! Counts for the metrics and the console's overview.

use crate::store::runner::Backlog;
use serde::Serialize;
use sqlx::PgPool;

/// Emails due now, and how long the oldest has been due.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<Backlog> {
    sqlx::query_as(
        "SELECT count(*) AS due,
                coalesce(EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8, 0) AS oldest_due_seconds
         FROM email_outbox WHERE status = 'pending' AND next_attempt_at <= now()",
    )
    .fetch_one(pool)
    .await
}

/// Emails that ended in the last hour, and those waiting.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct LastHour {
    pub sent: i64,
    /// Failed, dropped or expired.
    pub failed: i64,
    pub waiting: i64,
}

pub async fn last_hour(pool: &PgPool) -> sqlx::Result<LastHour> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
                count(*) FILTER (WHERE status NOT IN ('sent', 'pending')) AS failed,
                count(*) FILTER (WHERE status = 'pending') AS waiting
         FROM email_outbox WHERE status = 'pending' OR finished_at > now() - interval '1 hour'",
    )
    .fetch_one(pool)
    .await
}

/// Events of one type processed in the last hour whose email (if any)
/// stands the same way: `email sent`, `email pending`, …, or `no email`.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct EventOutcome {
    pub event_type: String,
    pub outcome: String,
    pub count: i64,
}

/// Events processed in the last hour, by type and by what became of the
/// email each caused.
pub async fn events_last_hour(pool: &PgPool) -> sqlx::Result<Vec<EventOutcome>> {
    sqlx::query_as(
        "SELECT p.event_type, COALESCE('email ' || e.status, 'no email') AS outcome,
                count(DISTINCT p.event_id) AS count
         FROM processed_events p LEFT JOIN email_outbox e ON e.event_id = p.event_id
         WHERE p.processed_at > now() - interval '1 hour'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
}
