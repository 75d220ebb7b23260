//! The per-recipient limit on invite and reset emails, so nobody can flood
//! an inbox through the reset form. A row takes a slot once; the count is
//! taken under a per-recipient advisory lock so two replicas cannot both
//! take the last slot.
//!
//! A reset takes its slot at intake ([`within_limit`], in the event's
//! transaction): over the limit it must change nothing, or whoever can
//! trigger resets for an address could keep invalidating its owner's
//! emailed tokens. An invite takes its slot on its first send attempt
//! ([`take_slot`]): invites come from administrators, and a resent invite
//! that is sent late still replaces the old link as intended.

use crate::settings::RateLimit;
use sqlx::{PgConnection, PgPool};
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

/// `true`: this email may go (its slot is taken); `false`: over the limit.
pub async fn take_slot(
    pool: &PgPool,
    limit: RateLimit,
    id: Uuid,
    recipient: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, recipient).await?;
    if used(&mut tx, limit, recipient, id).await? >= i64::from(limit.max) {
        return Ok(false);
    }
    counted_now(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}
