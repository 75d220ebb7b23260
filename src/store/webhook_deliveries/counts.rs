//! Counts of deliveries for the metrics and the console's overview.

use crate::store::runner::Backlog;
use serde::Serialize;
use sqlx::PgPool;

/// Deliveries due now, and how long the oldest has been due.
pub async fn backlog(pool: &PgPool) -> sqlx::Result<Backlog> {
    sqlx::query_as(
        "SELECT count(*) AS due,
                coalesce(EXTRACT(EPOCH FROM now() - min(next_attempt_at))::float8, 0) AS oldest_due_seconds
         FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()",
    )
    .fetch_one(pool)
    .await
}

/// Deliveries that ended in the last hour, and those still pending.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct WebhooksLastHour {
    pub delivered: i64,
    /// Failed, or pending after a failed attempt.
    pub failing: i64,
    /// Pending, not tried yet.
    pub waiting: i64,
}

pub async fn last_hour(pool: &PgPool) -> sqlx::Result<WebhooksLastHour> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,
                count(*) FILTER (WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)) AS failing,
                count(*) FILTER (WHERE status = 'pending' AND attempts = 0) AS waiting
         FROM webhook_deliveries WHERE status = 'pending' OR finished_at > now() - interval '1 hour'",
    )
    .fetch_one(pool)
    .await
}
