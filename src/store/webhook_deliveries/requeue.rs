use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// Puts failed deliveries back in the queue (same `webhook-id`, a fresh
/// retry schedule), optionally only one endpoint's or only those created
/// since; returns how many.
pub async fn replay(
    pool: &PgPool,
    endpoint: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries
         SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL, finished_at = NULL
         WHERE status = 'failed'
           AND ($1::uuid IS NULL OR endpoint_id = $1)
           AND ($2::timestamptz IS NULL OR created_at >= $2)",
    )
    .bind(endpoint)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Makes pending deliveries waiting for a later retry due now; their
/// attempt count stays. One in flight (leased) is left to finish.
pub async fn bring_forward(
    pool: &PgPool,
    endpoint: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries
         SET next_attempt_at = now()
         WHERE status = 'pending' AND next_attempt_at > now()
           AND (lease_until IS NULL OR lease_until <= now())
           AND ($1::uuid IS NULL OR endpoint_id = $1)
           AND ($2::timestamptz IS NULL OR created_at >= $2)",
    )
    .bind(endpoint)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
