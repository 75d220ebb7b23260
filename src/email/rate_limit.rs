//! The per-recipient limit on invite and reset emails, so nobody can flood
//! an inbox through the reset form. A row takes a slot once, on its first
//! attempt; the count is taken under a per-recipient advisory lock so two
//! replicas cannot both take the last slot.

use crate::settings::RateLimit;
use sqlx::PgPool;
use uuid::Uuid;

pub const LIMITED: [&str; 2] = ["invite", "password_reset"];

/// `true`: this email may go (its slot is taken); `false`: over the limit.
pub async fn take_slot(
    pool: &PgPool,
    limit: RateLimit,
    id: Uuid,
    recipient: &str,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('herald-rate:' || lower($1)))")
        .bind(recipient)
        .execute(&mut *tx)
        .await?;
    let used: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM email_outbox
         WHERE lower(recipient) = lower($1) AND template = ANY($2) AND counted_at > now() - $3::interval AND id <> $4",
    )
    .bind(recipient)
    .bind(&LIMITED[..])
    .bind(crate::store::pg_interval(limit.per))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if used >= i64::from(limit.max) {
        return Ok(false);
    }
    sqlx::query("UPDATE email_outbox SET counted_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}
