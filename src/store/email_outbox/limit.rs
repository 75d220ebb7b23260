//! The per-recipient limit's bookkeeping: a row takes a slot once
//! (`counted_at`), and slots are counted under a per-recipient advisory
//! lock so two replicas cannot both take the last one. When each kind of
//! email takes its slot is `email::rate_limit`'s to say.

use super::EmailTemplate;
use crate::domain::EmailAddress;
use sqlx::PgConnection;
use std::collections::HashSet;
use std::time::Duration;
use uuid::Uuid;

/// At most `max` emails per `per` to one address; `max == 0` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

/// The templates the limit counts.
pub(super) const LIMITED: [&str; 2] = [
    EmailTemplate::Invite.as_str(),
    EmailTemplate::PasswordReset.as_str(),
];

/// In the intake transaction, for a run of resets to distinct recipients:
/// those (lower-cased) within the limit, under their locks (held until the
/// transaction commits). Two statements whatever the number of recipients.
/// The caller writes their emails `counted`.
pub async fn within_limits(
    conn: &mut PgConnection,
    limit: RateLimit,
    recipients: &[&EmailAddress],
) -> sqlx::Result<HashSet<String>> {
    let lower: Vec<String> = recipients
        .iter()
        .map(|r| r.as_str().to_lowercase())
        .collect();
    if limit.max == 0 || recipients.is_empty() {
        return Ok(lower.into_iter().collect());
    }
    lock_all(conn, recipients).await?;
    let over: Vec<String> = sqlx::query_scalar(
        "SELECT lower(recipient) FROM email_outbox
         WHERE lower(recipient) = ANY($1) AND template = ANY($2) AND counted_at > now() - $3::interval
         GROUP BY 1 HAVING count(*) >= $4",
    )
    .bind(&lower)
    .bind(&LIMITED[..])
    .bind(crate::store::pg_interval(limit.per))
    .bind(i64::from(limit.max))
    .fetch_all(conn)
    .await?;
    Ok(lower.into_iter().filter(|r| !over.contains(r)).collect())
}

/// The recipients' locks, in a fixed order so that two holders of several
/// never wait on each other.
async fn lock_all(conn: &mut PgConnection, recipients: &[&EmailAddress]) -> sqlx::Result<()> {
    let recipients: Vec<&str> = recipients.iter().map(|r| r.as_str()).collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('herald-rate:' || r))
         FROM (SELECT DISTINCT lower(r) AS r FROM unnest($1::text[]) AS u(r) ORDER BY 1) AS locks",
    )
    .bind(&recipients)
    .execute(conn)
    .await?;
    Ok(())
}

/// In the claim's transaction: the claimed emails (id and recipient, oldest
/// first) that take a slot of their recipient's limit,
/// under the recipients' locks (so a reset's intake and another replica's
/// claim count what this one takes). One statement for the locks, one for
/// the slots, whatever the number of emails.
pub(super) async fn take_slots(
    conn: &mut PgConnection,
    limit: RateLimit,
    claimed: &[(Uuid, &EmailAddress)],
) -> sqlx::Result<HashSet<Uuid>> {
    if claimed.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    if limit.max == 0 {
        return Ok(ids.into_iter().collect());
    }
    let recipients: Vec<&EmailAddress> = claimed.iter().map(|(_, r)| *r).collect();
    lock_all(conn, &recipients).await?;
    let recipients: Vec<&str> = recipients.iter().map(|r| r.as_str()).collect();
    let taken: Vec<Uuid> = sqlx::query_scalar(
        "WITH claimed AS (
             SELECT id, lower(r) AS r, n FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS c(id, r, n)),
         used AS (
             SELECT lower(recipient) AS r, count(*) AS n FROM email_outbox
             WHERE lower(recipient) IN (SELECT r FROM claimed) AND template = ANY($3)
               AND counted_at > now() - $4::interval
             GROUP BY 1),
         ranked AS (
             SELECT c.id, coalesce(u.n, 0) + row_number() OVER (PARTITION BY c.r ORDER BY c.n) AS nth
             FROM claimed c LEFT JOIN used u ON u.r = c.r)
         UPDATE email_outbox o SET counted_at = now()
         FROM ranked WHERE o.id = ranked.id AND ranked.nth <= $5
         RETURNING o.id",
    )
    .bind(&ids)
    .bind(&recipients)
    .bind(&LIMITED[..])
    .bind(crate::store::pg_interval(limit.per))
    .bind(i64::from(limit.max))
    .fetch_all(&mut *conn)
    .await?;
    Ok(taken.into_iter().collect())
}
