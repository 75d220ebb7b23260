//! Recording how attempts ended: every attempt kept, each row moved on
//! (retried later or ended), fenced by the attempt number its claim gave
//! it, and the ends announced in the same transaction.

use super::{EmailOutcome, EmailStatus};
use crate::store::announce::announce;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Where a row goes after an attempt.
pub enum Next {
    /// Sent, failed, dropped or expired: final. The sealed token is erased.
    Finish { status: EmailStatus },
    /// Try again after `delay`; `used_retry` moves along the schedule.
    Retry { delay: Duration, used_retry: bool },
}

pub struct Attempt {
    pub outcome: &'static str,
    pub code: Option<u16>,
    /// The SMTP reply or the error, bounded; never holds a token.
    pub detail: String,
}

/// One attempt to record: the row, the attempt number its claim gave it,
/// how the attempt went and where the row goes next.
pub struct Record {
    pub id: Uuid,
    pub attempt_no: i32,
    pub attempt: Attempt,
    pub next: Next,
}

/// Records attempts and moves their rows on, in one statement and one
/// commit, each fenced like the webhook record: only while the row is still
/// `pending` at this attempt's number. A row another worker has claimed
/// since (its lease lapsed), finished, or that is gone keeps what it has: a
/// late worker never overwrites another worker's result. The attempt itself
/// is kept while its row exists.
/// Every row that ends announces it (`email.sent`, `email.failed`) in the
/// same transaction.
pub async fn record_many(pool: &PgPool, records: &[Record]) -> sqlx::Result<()> {
    let mut ids = Vec::with_capacity(records.len());
    let (mut numbers, mut outcomes, mut codes, mut details) = (vec![], vec![], vec![], vec![]);
    let (mut statuses, mut delays, mut used) = (vec![], vec![], vec![]);
    for r in records {
        ids.push(r.id);
        numbers.push(r.attempt_no);
        outcomes.push(r.attempt.outcome);
        codes.push(r.attempt.code.map(i32::from));
        details.push(r.attempt.detail.as_str());
        let (status, delay, used_retry) = match &r.next {
            Next::Finish { status } => (Some(status.as_str()), None, false),
            Next::Retry { delay, used_retry } => (None, Some(delay.as_secs_f64()), *used_retry),
        };
        statuses.push(status);
        delays.push(delay);
        used.push(used_retry);
    }
    let mut tx = pool.begin().await?;
    // A row moved on: pending still, or ended.
    let moved: Vec<EmailOutcome> = sqlx::query_as(
        "WITH r AS (
             SELECT * FROM unnest($1::uuid[], $2::int4[], $3::text[], $4::int4[], $5::text[],
                                  $6::text[], $7::float8[], $8::bool[])
                 AS r(id, attempt, outcome, code, detail, status, delay, used_retry)
         ), moved AS (
             UPDATE email_outbox o SET
                 status = coalesce(r.status, o.status),
                 finished_at = CASE WHEN r.status IS NULL THEN o.finished_at ELSE now() END,
                 token_sealed = CASE WHEN r.status IS NULL THEN o.token_sealed END,
                 next_attempt_at = CASE WHEN r.delay IS NULL THEN o.next_attempt_at
                                        ELSE now() + make_interval(secs => r.delay) END,
                 retries_used = o.retries_used + CASE WHEN r.used_retry THEN 1 ELSE 0 END,
                 last_error = CASE WHEN r.status = 'sent' THEN NULL ELSE r.detail END,
                 lease_until = NULL
             FROM r WHERE o.id = r.id AND o.attempts = r.attempt AND o.status = 'pending'
             RETURNING o.id, o.event_id, o.template, o.recipient, o.status, o.attempts,
                       coalesce(r.code, (SELECT a.smtp_code FROM email_attempts a
                                         WHERE a.outbox_id = o.id AND a.smtp_code IS NOT NULL
                                         ORDER BY a.attempt DESC, a.id DESC LIMIT 1)) AS smtp_code
         ), kept AS (
             INSERT INTO email_attempts (outbox_id, attempt, outcome, smtp_code, detail)
             SELECT r.id, r.attempt, r.outcome, r.code, r.detail FROM r
             WHERE EXISTS (SELECT 1 FROM email_outbox WHERE id = r.id)
         )
         SELECT * FROM moved",
    )
    .bind(&ids)
    .bind(&numbers)
    .bind(&outcomes)
    .bind(&codes)
    .bind(&details)
    .bind(&statuses)
    .bind(&delays)
    .bind(&used)
    .fetch_all(&mut *tx)
    .await?;
    let ended: Vec<_> = moved
        .iter()
        .filter(|m| m.status != EmailStatus::Pending)
        .map(EmailOutcome::announcement)
        .collect();
    announce(&mut tx, &ended).await?;
    tx.commit().await?;
    for r in records
        .iter()
        .filter(|r| !moved.iter().any(|m| m.id == r.id))
    {
        tracing::warn!(outbox.id = %r.id, attempt = r.attempt_no,
            "the email was taken over, finished or removed meanwhile; its state is left as it is");
        metrics::counter!("herald_records_abandoned_total", "reason" => "stale").increment(1);
    }
    Ok(())
}
