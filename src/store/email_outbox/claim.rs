//! Claiming due rows: leased in one short transaction, with the rate
//! limit's slots taken set-based in the same one, and each row read into
//! typed values. A row that cannot be read comes back [`Unreadable`], beside
//! the others: one bad row never fails the claim.

use super::EmailTemplate;
use super::limit::{self, LIMITED, RateLimit};
use crate::domain::EmailAddress;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// A leased row, ready to send.
#[derive(Debug)]
pub struct Claimed {
    pub id: Uuid,
    pub template: EmailTemplate,
    pub recipient: EmailAddress,
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
    pub over_limit: bool,
    /// An invite or reset email that has not taken its slot yet.
    uncounted: bool,
}

/// A leased row whose template or recipient this Herald cannot read (an
/// older or newer Herald wrote it, or the address no longer parses): it
/// can never be sent, and takes no rate-limit slot.
#[derive(Debug)]
pub struct Unreadable {
    pub id: Uuid,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// What could not be read, for the attempt's detail.
    pub why: String,
    /// As [`Claimed::expired`].
    pub expired: Option<String>,
}

/// The row as the claim returns it, before it is read.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    template: String,
    recipient: String,
    locale: Option<String>,
    data: serde_json::Value,
    token_sealed: Option<Vec<u8>>,
    attempts: i32,
    retries_used: i32,
    event_time: chrono::DateTime<chrono::Utc>,
    expired: Option<String>,
    uncounted: bool,
}

impl Row {
    fn read(self) -> Result<Claimed, Unreadable> {
        match super::read_names(&self.template, &self.recipient) {
            Ok((template, recipient)) => Ok(Claimed {
                id: self.id,
                template,
                recipient,
                locale: self.locale,
                data: self.data,
                token_sealed: self.token_sealed,
                attempts: self.attempts,
                retries_used: self.retries_used,
                event_time: self.event_time,
                expired: self.expired,
                over_limit: false,
                uncounted: self.uncounted,
            }),
            Err(why) => Err(Unreadable {
                id: self.id,
                attempts: self.attempts,
                why,
                expired: self.expired,
            }),
        }
    }
}

/// Leases up to `limit` due rows, never one in `held` (rows this worker is
/// still sending or recording, whose lease may have lapsed meanwhile). A row
/// whose lease lapsed (its worker died mid-send) is due again. In the same
/// transaction, the claimed invite and reset emails that have not taken a
/// slot of their recipient's limit take one, set-based
/// (`limit::take_slots`); those over it come back `over_limit`.
/// Oldest id first.
pub async fn claim(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
    held: &[Uuid],
    rate: RateLimit,
) -> sqlx::Result<Vec<Result<Claimed, Unreadable>>> {
    let mut tx = pool.begin().await?;
    // The due rows are picked once, in a MATERIALIZED CTE: as a subquery
    // joined to the UPDATE, PostgreSQL may scan them again, and a second scan
    // skips the rows this statement already leased and takes the next ones,
    // so the claim returned more rows than asked (seen in the bench).
    let mut rows: Vec<Row> = sqlx::query_as(
        "WITH due AS MATERIALIZED (
             SELECT id FROM email_outbox
             WHERE status = 'pending' AND next_attempt_at <= now()
               AND (lease_until IS NULL OR lease_until < now())
               AND NOT (id = ANY($3))
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE email_outbox o SET lease_until = now() + $2::interval, attempts = o.attempts + 1
         FROM due WHERE o.id = due.id
         RETURNING o.id, o.template, o.recipient, o.locale, o.data, o.token_sealed, o.attempts,
                   o.retries_used, o.event_time,
                   (o.counted_at IS NULL AND o.template = ANY($4)) AS uncounted,
                   CASE o.template
                     WHEN 'password_reset' THEN
                       CASE WHEN (o.data->>'expires_at')::timestamptz <= now()
                            THEN 'the reset token expired at ' || (o.data->>'expires_at') END
                     WHEN 'invite' THEN
                       (SELECT CASE WHEN i.id IS NULL THEN 'the invite is gone'
                                    WHEN i.status <> 'pending' THEN 'the invite was ' || i.status
                                    WHEN i.expires_at <= now()
                                    THEN 'the invite expired at ' || i.expires_at END
                        FROM (SELECT 1) one LEFT JOIN invites i ON i.id = o.data->>'invite_id')
                   END AS expired",
    )
    .bind(limit)
    .bind(crate::store::pg_interval(lease))
    .bind(held)
    .bind(&LIMITED[..])
    .fetch_all(&mut *tx)
    .await?;
    rows.sort_by_key(|row| row.id);
    let mut claimed: Vec<Result<Claimed, Unreadable>> = rows.into_iter().map(Row::read).collect();
    let uncounted: Vec<(Uuid, &EmailAddress)> = claimed
        .iter()
        .flatten()
        // An email that will not go out takes no slot.
        .filter(|row| row.uncounted && row.expired.is_none())
        .map(|row| (row.id, &row.recipient))
        .collect();
    let taken = limit::take_slots(&mut tx, rate, &uncounted).await?;
    tx.commit().await?;
    for row in claimed.iter_mut().flatten() {
        row.over_limit = row.uncounted && row.expired.is_none() && !taken.contains(&row.id);
    }
    Ok(claimed)
}
