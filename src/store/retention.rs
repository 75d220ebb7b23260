//! What retention deletes, one small batch a statement: rows that finished
//! longer ago than the cutoff, never a pending one, and never what the
//! dedupe or the rate limit still need.
//!
//! - `email_outbox` (and `email_attempts`): sent, failed, dropped or expired
//!   before the cutoff, unless the row still holds one of its recipient's
//!   rate-limit slots (`counted_at` within the limit's window).
//! - `webhook_deliveries` (and `webhook_attempts`): delivered or failed
//!   before the cutoff; a failed one is replayable until then.
//! - `password_reset_tokens`: used, invalidated or expired before the cutoff.
//! - `invites`: accepted, revoked, or pending and expired before the cutoff.
//! - `processed_events`: processed before the cutoff, unless an email or
//!   webhook delivery of that event is still pending.
//!
//! `event_outbox` rows are deleted by the relay as soon as they are
//! published, so retention has nothing left to take there.

use sqlx::PgPool;
use std::time::Duration;

/// Tables retention deletes from, in the order it goes through them.
pub const TABLES: [&str; 5] = [
    "email_outbox",
    "webhook_deliveries",
    "password_reset_tokens",
    "invites",
    "processed_events",
];

/// Held (per transaction) by the replica running retention; the others skip
/// their round.
const LOCK_KEY: i64 = 0x6865_7261_6c64_7274; // "heraldrt"

/// Deletes one batch of at most `batch` rows from `table` (and their
/// attempts) that finished before `now() - retention`. Returns the rows
/// deleted per table, or `None` when another replica holds the lock.
pub async fn delete_batch(
    pool: &PgPool,
    table: &str,
    retention: Duration,
    rate_window: Duration,
    batch: i64,
) -> sqlx::Result<Option<Vec<(&'static str, u64)>>> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(None);
    }
    let cutoff = crate::store::pg_interval(retention);
    let deleted: Vec<(&'static str, u64)> = match table {
        "email_outbox" => {
            let (rows, attempts): (i64, i64) = sqlx::query_as(
                "WITH doomed AS (
                     SELECT id FROM email_outbox
                     WHERE status <> 'pending' AND finished_at < now() - $1::interval
                       AND (counted_at IS NULL OR counted_at < now() - $2::interval)
                     LIMIT $3 FOR UPDATE SKIP LOCKED
                 ), a AS (
                     DELETE FROM email_attempts WHERE outbox_id IN (SELECT id FROM doomed) RETURNING 1
                 ), o AS (
                     DELETE FROM email_outbox WHERE id IN (SELECT id FROM doomed) RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM o), (SELECT count(*) FROM a)",
            )
            .bind(cutoff)
            .bind(crate::store::pg_interval(rate_window))
            .bind(batch)
            .fetch_one(&mut *tx)
            .await?;
            vec![
                ("email_outbox", rows as u64),
                ("email_attempts", attempts as u64),
            ]
        }
        "webhook_deliveries" => {
            let (rows, attempts): (i64, i64) = sqlx::query_as(
                "WITH doomed AS (
                     SELECT id FROM webhook_deliveries
                     WHERE status <> 'pending' AND finished_at < now() - $1::interval
                     LIMIT $2 FOR UPDATE SKIP LOCKED
                 ), a AS (
                     DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM doomed)
                     RETURNING 1
                 ), d AS (
                     DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM doomed) RETURNING 1
                 )
                 SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM a)",
            )
            .bind(cutoff)
            .bind(batch)
            .fetch_one(&mut *tx)
            .await?;
            vec![
                ("webhook_deliveries", rows as u64),
                ("webhook_attempts", attempts as u64),
            ]
        }
        "password_reset_tokens" => {
            let done = sqlx::query(
                "DELETE FROM password_reset_tokens WHERE id IN (
                     SELECT id FROM password_reset_tokens
                     WHERE least(used_at, invalidated_at, expires_at) < now() - $1::interval
                     LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
            vec![("password_reset_tokens", done.rows_affected())]
        }
        "invites" => {
            let done = sqlx::query(
                "DELETE FROM invites WHERE id IN (
                     SELECT id FROM invites
                     WHERE CASE status WHEN 'accepted' THEN accepted_at
                                       WHEN 'revoked' THEN revoked_at
                                       ELSE expires_at END < now() - $1::interval
                     LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
            vec![("invites", done.rows_affected())]
        }
        _ => {
            let done = sqlx::query(
                "DELETE FROM processed_events WHERE event_id IN (
                     SELECT p.event_id FROM processed_events p
                     WHERE p.processed_at < now() - $1::interval
                       AND NOT EXISTS (SELECT 1 FROM email_outbox o
                                       WHERE o.event_id = p.event_id AND o.status = 'pending')
                       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                       WHERE d.event_id = p.event_id AND d.status = 'pending')
                     LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .bind(cutoff)
            .bind(batch)
            .execute(&mut *tx)
            .await?;
            vec![("processed_events", done.rows_affected())]
        }
    };
    tx.commit().await?;
    Ok(Some(deleted))
}
