//! Claiming due outbox rows and recording how each attempt ended.

use super::rate_limit;
use crate::settings::RateLimit;
use crate::store::announce::{EmailOutcome, announce};
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
    pub event_time: chrono::DateTime<chrono::Utc>,
    /// Why the email must not go out any more (its reset token expired, its
    /// invite expired or is no longer pending), read with the claim.
    pub expired: Option<String>,
    /// The recipient's limit was reached before this email took a slot:
    /// it is dropped unsent.
    #[sqlx(skip)]
    pub over_limit: bool,
    /// An invite or reset email that has not taken its slot yet.
    uncounted: bool,
}

/// Leases up to `limit` due rows, never one in `held` (rows this worker is
/// still sending or recording, whose lease may have lapsed meanwhile). A row
/// whose lease lapsed (its worker died mid-send) is due again. In the same
/// transaction, the claimed invite and reset emails that have not taken a
/// slot of their recipient's limit take one, set-based
/// ([`rate_limit::take_slots`]); those over it come back `over_limit`.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    held: &[Uuid],
    rate: RateLimit,
) -> sqlx::Result<Vec<Claimed>> {
    let mut tx = pool.begin().await?;
    let mut rows: Vec<Claimed> = sqlx::query_as(
        "UPDATE email_outbox o SET lease_until = now() + $2::interval, attempts = o.attempts + 1
         FROM (SELECT id FROM email_outbox
               WHERE status = 'pending' AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
                 AND NOT (id = ANY($3))
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
         WHERE o.id = due.id
         RETURNING o.id, o.template, o.recipient, o.locale, o.data, o.token_sealed, o.attempts,
                   o.retries_used, o.event_time,
                   (o.counted_at IS NULL AND o.template = ANY($4)) AS uncounted,
                   CASE o.template
                     WHEN 'password_reset' THEN
                       CASE WHEN (o.data->>'expires_at')::timestamptz <= now()
                            THEN 'the reset token expired at ' || (o.data->>'expires_at') END
                     WHEN 'invite' THEN coalesce(
                       (SELECT CASE WHEN i.status <> 'pending' THEN 'the invite was ' || i.status
                                    WHEN i.expires_at <= now()
                                    THEN 'the invite expired at ' || i.expires_at END
                        FROM invites i WHERE i.id = o.data->>'invite_id'),
                       CASE WHEN NOT EXISTS (SELECT 1 FROM invites i WHERE i.id = o.data->>'invite_id')
                            THEN 'the invite is gone' END)
                   END AS expired",
    )
    .bind(limit)
    .bind(crate::store::pg_interval(lease))
    .bind(held)
    .bind(&rate_limit::LIMITED[..])
    .fetch_all(&mut *tx)
    .await?;
    rows.sort_by_key(|row| row.id);
    let uncounted: Vec<(Uuid, &str)> = rows
        .iter()
        // An email that will not go out takes no slot.
        .filter(|row| row.uncounted && row.expired.is_none())
        .map(|row| (row.id, row.recipient.as_str()))
        .collect();
    let taken = rate_limit::take_slots(&mut tx, rate, &uncounted).await?;
    tx.commit().await?;
    for row in &mut rows {
        row.over_limit = row.uncounted && row.expired.is_none() && !taken.contains(&row.id);
    }
    Ok(rows)
}

/// Where a row goes after an attempt.
pub enum Next {
    /// Sent, failed, dropped or expired: final. The sealed token is erased.
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

/// A row the record moved on: pending still, or ended.
type Moved = EmailOutcome;

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
            Next::Finish { status } => (Some(*status), None, false),
            Next::Retry { delay, used_retry } => (None, Some(delay.as_secs_f64()), *used_retry),
        };
        statuses.push(status);
        delays.push(delay);
        used.push(used_retry);
    }
    let mut tx = pool.begin().await?;
    let moved: Vec<Moved> = sqlx::query_as(
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
        .filter(|m| m.status != "pending")
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
