use super::{AttemptOutcome, DeliveryStatus};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// One attempt to write, with where its delivery goes next (the
/// dispatcher's decision).
pub struct Recorded {
    pub delivery: Uuid,
    pub endpoint: Uuid,
    /// The attempt's number: the delivery moves only while its lease is
    /// still this one (one that lapsed and was claimed again has moved on).
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub outcome: AttemptOutcome,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    /// The delivery's status after this attempt.
    pub status: DeliveryStatus,
    /// When still pending: due again after this.
    pub retry_in: Option<Duration>,
    pub last_error: Option<String>,
}

/// Writes a batch of attempts in one statement, in the caller's
/// transaction, and returns the deliveries it moved. Each delivery moves
/// only while still pending at its attempt's number; an attempt is kept
/// while its delivery exists (a removed endpoint took its deliveries with it).
pub async fn record(conn: &mut PgConnection, batch: &[&Recorded]) -> sqlx::Result<Vec<Uuid>> {
    let column =
        |f: fn(&Recorded) -> Option<String>| batch.iter().map(|r| f(r)).collect::<Vec<_>>();
    sqlx::query_scalar(
        "WITH r AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::timestamptz[],
                                  $5::int4[], $6::int4[], $7::text[], $8::text[], $9::text[],
                                  $10::text[], $11::float8[], $12::text[], $13::uuid[])
                 AS r(id, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome,
                      excerpt, error, status, delay, last_error, attempt_id)
         ), moved AS (
             UPDATE webhook_deliveries d
             SET status = r.status, lease_until = NULL, last_error = r.last_error,
                 next_attempt_at = CASE WHEN r.delay IS NULL THEN d.next_attempt_at
                                        ELSE now() + make_interval(secs => r.delay) END,
                 finished_at = CASE WHEN r.status = 'pending' THEN NULL ELSE now() END
             FROM r WHERE d.id = r.id AND d.attempts = r.attempt AND d.status = 'pending'
             RETURNING d.id
         ), kept AS (
             INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempt, attempted_at,
                                           status_code, latency_ms, outcome, response_excerpt, error)
             SELECT r.attempt_id, r.id, r.endpoint_id, r.attempt, r.attempted_at, r.status_code,
                    r.latency_ms, r.outcome, r.excerpt, r.error
             FROM r WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = r.id)
         )
         SELECT id FROM moved",
    )
    .bind(batch.iter().map(|r| r.delivery).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.endpoint).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.attempt).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.attempted_at).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.status_code).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.latency_ms).collect::<Vec<_>>())
    .bind(batch.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind(column(|r| r.excerpt.clone()))
    .bind(column(|r| r.error.clone()))
    .bind(batch.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|r| r.retry_in.map(|d| d.as_secs_f64()))
            .collect::<Vec<_>>(),
    )
    .bind(column(|r| r.last_error.clone()))
    .bind(batch.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
}

/// Gives a leased delivery back untried, due after `delay`, with `why`:
/// its attempt is not counted, so its retry schedule is untouched. Only
/// while this worker still holds it at `attempt`.
pub async fn put_back(
    pool: &PgPool,
    id: Uuid,
    attempt: i32,
    why: &str,
    delay: Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries
         SET lease_until = NULL, attempts = attempts - 1, last_error = $3,
             next_attempt_at = now() + make_interval(secs => $4)
         WHERE id = $1 AND attempts = $2 AND status = 'pending'",
    )
    .bind(id)
    .bind(attempt)
    .bind(why)
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}
