//! The per-recipient limit on invite and reset emails, so nobody can flood
//! an inbox through the reset form. A row takes a slot once; the count is
//! taken under a per-recipient advisory lock so two replicas cannot both
//! take the last slot.
//!
//! A reset takes its slot at intake ([`within_limit`], in the event's
//! transaction): over the limit it must change nothing, or whoever can
//! trigger resets for an address could keep invalidating its owner's
//! emailed tokens. An invite takes its slot when it is first claimed
//! ([`take_slots`], set-based, in the claim's transaction): invites come from administrators, and a resent invite
//! that is sent late still replaces the old link as intended.

use crate::settings::RateLimit;
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

async fn lock(conn: &mut PgConnection, recipient: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('herald-rate:' || lower($1)))")
        .bind(recipient)
        .execute(conn)
        .await?;
    Ok(())
}

async fn used(
    conn: &mut PgConnection,
    limit: RateLimit,
    recipient: &str,
    except: Uuid,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM email_outbox
         WHERE lower(recipient) = lower($1) AND template = ANY($2) AND counted_at > now() - $3::interval AND id <> $4",
    )
    .bind(recipient)
    .bind(&LIMITED[..])
    .bind(crate::store::pg_interval(limit.per))
    .bind(except)
    .fetch_one(conn)
    .await
}

/// In the intake transaction (the lock is held until it commits): whether
/// one more email to `recipient` is within the limit. The caller marks the
/// row it then writes with [`counted_now`].
pub async fn within_limit(
    conn: &mut PgConnection,
    limit: RateLimit,
    recipient: &str,
) -> sqlx::Result<bool> {
    if limit.max == 0 {
        return Ok(true);
    }
    lock(conn, recipient).await?;
    Ok(used(conn, limit, recipient, Uuid::nil()).await? < i64::from(limit.max))
}

/// The outbox row has taken its slot (so its send does not count it again).
pub async fn counted_now(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("UPDATE email_outbox SET counted_at = now() WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Says why an email was not sent.
pub fn over_limit(limit: RateLimit, template: &str) -> String {
    format!(
        "over the limit of {} {template} emails per {} to this address",
        limit.max,
        humantime::format_duration(limit.per)
    )
}

pub const LIMITED: [&str; 2] = ["invite", "password_reset"];

/// In the claim's transaction: the claimed emails (id and recipient, oldest
/// first) that take a slot of their recipient's limit,
/// under the recipients' locks (so a reset's intake and another replica's
/// claim count what this one takes). One statement for the locks, one for
/// the slots, whatever the number of emails.
pub async fn take_slots(
    conn: &mut PgConnection,
    limit: RateLimit,
    claimed: &[(Uuid, &str)],
) -> sqlx::Result<HashSet<Uuid>> {
    if claimed.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    let recipients: Vec<&str> = claimed.iter().map(|(_, r)| *r).collect();
    if limit.max == 0 {
        return Ok(ids.into_iter().collect());
    }
    // In a fixed order, so that two claims never wait on each other.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtext('herald-rate:' || r))
         FROM (SELECT DISTINCT lower(r) AS r FROM unnest($1::text[]) AS u(r) ORDER BY 1) AS locks",
    )
    .bind(&recipients)
    .execute(&mut *conn)
    .await?;
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
