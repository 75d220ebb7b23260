//! Erasure after `user.deleted` with an address. The event queues a
//! request (in its own transaction); once nothing about the user is
//! pending any more (no email to the address, no webhook delivery about
//! them, the event's own deliveries included, no announcement naming the
//! address waiting for the relay), one transaction deletes every row
//! holding the address or the user's data, and the request with them:
//!
//! - `email_outbox` rows to the address or for the user id, with their
//!   `email_attempts` (SMTP replies may quote the address);
//! - `webhook_deliveries` whose body names the address, or the user's id
//!   in a `user.*` event, with their `webhook_attempts`;
//! - `password_reset_tokens` of the address or the user id;
//! - `invites` to the address.
//!
//! `processed_events` rows stay: they hold an id, a type and a time.

use crate::domain::{EmailAddress, EventId, Id};
use sqlx::{PgConnection, PgPool};

/// Queues the user's erasure, in the event's transaction.
pub async fn request(
    conn: &mut PgConnection,
    event: &EventId,
    user: &Id,
    email: &EmailAddress,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO erasures (event_id, user_id, email) VALUES ($1, $2, lower($3))
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.as_str())
    .bind(user.as_str())
    .bind(email.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Rows about the user, by table: `$1` the user id, `$2` the address in
/// lower case.
const OUTBOX: &str = "(lower(o.recipient) = $2 OR o.data->>'user_id' = $1
                       OR lower(o.data->>'email') = $2)";
const DELIVERY: &str = "(strpos(lower(d.body), $2) > 0
                         OR (d.event_type LIKE 'user.%' AND (d.body::jsonb)->'data'->>'id' = $1)
                         OR (d.body::jsonb)->'data'->>'user_id' = $1)";

/// Carries out every request whose user has nothing pending; returns how
/// many were carried out.
pub async fn erase_ready(pool: &PgPool) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let requests: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_id, user_id, email FROM erasures
         ORDER BY requested_at LIMIT 16 FOR UPDATE SKIP LOCKED",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut done = 0;
    for (event_id, user, email) in requests {
        let pending = format!(
            "SELECT EXISTS (SELECT 1 FROM email_outbox o WHERE o.status = 'pending' AND {OUTBOX})
                 OR EXISTS (SELECT 1 FROM webhook_deliveries d
                            WHERE d.status = 'pending' AND {DELIVERY})
                 OR EXISTS (SELECT 1 FROM event_outbox e WHERE strpos(lower(e.body::text), $2) > 0)"
        );
        let pending: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(pending))
            .bind(&user)
            .bind(&email)
            .fetch_one(&mut *tx)
            .await?;
        if pending {
            continue;
        }
        for sql in [
            format!(
                "DELETE FROM email_attempts WHERE outbox_id IN
                     (SELECT o.id FROM email_outbox o WHERE {OUTBOX})"
            ),
            format!("DELETE FROM email_outbox o WHERE {OUTBOX}"),
            format!(
                "DELETE FROM webhook_attempts WHERE delivery_id IN
                     (SELECT d.id FROM webhook_deliveries d WHERE {DELIVERY})"
            ),
            format!("DELETE FROM webhook_deliveries d WHERE {DELIVERY}"),
            "DELETE FROM password_reset_tokens WHERE lower(email) = $2 OR user_id = $1".into(),
            "DELETE FROM invites WHERE lower(email) = $2 AND $1 IS NOT NULL".into(),
            "DELETE FROM erasures WHERE lower(email) = $2 AND $1 IS NOT NULL".into(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&user)
                .bind(&email)
                .execute(&mut *tx)
                .await?;
        }
        tracing::info!(event.id = %event_id, "user erased");
        done += 1;
    }
    tx.commit().await?;
    metrics::counter!("herald_erasures_total").increment(done);
    Ok(done)
}
