use super::AttemptOutcome;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// One attempt to an endpoint, with its delivery's event type; served as
/// it is read by `/v1/webhook-endpoints/{id}/attempts`.
#[derive(Debug, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AttemptView)]
pub struct EndpointAttempt {
    pub delivery_id: Uuid,
    pub event_type: String,
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
}

/// The endpoint's last `limit` attempts, newest first.
pub async fn recent_attempts(
    pool: &PgPool,
    endpoint: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<EndpointAttempt>> {
    sqlx::query_as(
        "SELECT a.delivery_id, d.event_type, a.attempt, a.attempted_at, a.outcome, a.status_code,
                a.latency_ms, a.error, a.response_excerpt
         FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
         WHERE a.endpoint_id = $1 ORDER BY a.attempted_at DESC LIMIT $2",
    )
    .bind(endpoint)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How an endpoint is doing.
#[derive(Debug, sqlx::FromRow)]
pub struct EndpointHealth {
    /// Its first failed attempt since the last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// Attempts that did not deliver since the last that did.
    pub streak: i64,
    /// Its deliveries that failed (replayable).
    pub failed: i64,
}

pub async fn health(pool: &PgPool, endpoint: Uuid) -> sqlx::Result<EndpointHealth> {
    sqlx::query_as(
        "SELECT (SELECT failing_since FROM webhook_endpoints WHERE id = $1) AS failing_since,
                (SELECT count(*) FROM webhook_attempts
                 WHERE endpoint_id = $1 AND outcome <> 'delivered'
                   AND attempted_at > COALESCE((SELECT max(attempted_at) FROM webhook_attempts
                                                WHERE endpoint_id = $1 AND outcome = 'delivered'), '-infinity')
                ) AS streak,
                (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'failed')
                    AS failed",
    )
    .bind(endpoint)
    .fetch_one(pool)
    .await
}
