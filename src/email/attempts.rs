//! Claiming due outbox rows and recording how each attempt ended.

use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub template: String,
    pub recipient: String,
    pub locale: Option<String>,
    pub data: serde_json::Value,
    pub token_sealed: Option<Vec<u8>>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// Transient SMTP failures so far: the position in the retry schedule.
    pub retries_used: i32,
    pub counted_at: Option<chrono::DateTime<chrono::Utc>>,
    pub event_time: chrono::DateTime<chrono::Utc>,
}

/// Leases up to `limit` due rows in one short statement. A row whose lease
/// lapsed (its worker died mid-send) is due again.
/// Leases up to `limit` due rows, never one in `held` (rows this worker is
/// still sending or recording, whose lease may have lapsed meanwhile).
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    held: &[Uuid],
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        "UPDATE email_outbox o SET lease_until = now() + $2::interval, attempts = o.attempts + 1
         FROM (SELECT id FROM email_outbox
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
                 AND NOT (id = ANY($3))
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
         WHERE o.id = due.id
         RETURNING o.id, o.template, o.recipient, o.locale, o.data, o.token_sealed, o.attempts,
                   o.retries_used, o.counted_at, o.event_time",
    )
    .bind(limit)
    .bind(crate::store::pg_interval(lease))
    .bind(held)
    .fetch_all(pool)
    .await
}

/// Where a row goes after an attempt.
pub enum Next {
    /// Sent, failed or dropped: final. The sealed token is erased.
    Finish { status: &'static str },
    /// Try again after `delay`; `used_retry` moves along the schedule.
    Retry { delay: Duration, used_retry: bool },
}

pub struct Attempt {
    pub outcome: &'static str,
    pub code: Option<u16>,
    /// The SMTP reply or the error, bounded; never holds a token.
    pub detail: String,
}

/// Records an attempt and moves the row on, fenced like the webhook
/// record: only while the row is still `pending` at this attempt's number.
/// A row another worker has claimed since (its lease lapsed), finished, or
/// that is gone keeps what it has: a late worker never overwrites another
/// worker's result. The attempt itself is kept while its row exists.
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    attempt_no: i32,
    attempt: &Attempt,
    next: &Next,
) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    let moved = match next {
        Next::Finish { status } => {
            sqlx::query(
                "UPDATE email_outbox SET status = $3, finished_at = now(), lease_until = NULL,
                        token_sealed = NULL, last_error = CASE WHEN $3 = 'sent' THEN NULL ELSE $4 END
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(attempt_no)
            .bind(status)
            .bind(&attempt.detail)
            .execute(&mut *tx)
            .await?
        }
        Next::Retry { delay, used_retry } => {
            sqlx::query(
                "UPDATE email_outbox SET next_attempt_at = now() + $3::interval, lease_until = NULL,
                        retries_used = retries_used + CASE WHEN $4 THEN 1 ELSE 0 END, last_error = $5
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(attempt_no)
            .bind(crate::store::pg_interval(*delay))
            .bind(used_retry)
            .bind(&attempt.detail)
            .execute(&mut *tx)
            .await?
        }
    };
    if moved.rows_affected() == 0 {
        tracing::warn!(outbox.id = %id, attempt = attempt_no,
            "the email was taken over, finished or removed meanwhile; its state is left as it is");
        metrics::counter!("herald_records_abandoned_total", "reason" => "stale").increment(1);
    }
    sqlx::query(
        "INSERT INTO email_attempts (outbox_id, attempt, outcome, smtp_code, detail)
         SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM email_outbox WHERE id = $1)",
    )
    .bind(id)
    .bind(attempt_no)
    .bind(attempt.outcome)
    .bind(attempt.code.map(i32::from))
    .bind(&attempt.detail)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
