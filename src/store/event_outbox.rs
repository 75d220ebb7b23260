//! `event_outbox`: the events Herald publishes itself, written in the
//! transaction of the change they announce and leased by the relay, which
//! deletes each once the broker confirms it. Every statement on the table
//! but erasure's check for an address still waiting here.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// One event to publish: its id, routing key (its type) and CloudEvent.
pub struct NewEvent<'a> {
    pub id: Uuid,
    pub routing_key: &'a str,
    pub body: Value,
}

/// Writes `events` in one statement, in the caller's transaction.
pub async fn insert(conn: &mut PgConnection, events: &[NewEvent<'_>]) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key).collect();
    let bodies: Vec<Value> = events.iter().map(|e| e.body.clone()).collect();
    sqlx::query(
        "INSERT INTO event_outbox (id, routing_key, body)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::jsonb[])",
    )
    .bind(&ids)
    .bind(&keys)
    .bind(&bodies)
    .execute(conn)
    .await?;
    Ok(())
}

/// A leased event.
#[derive(sqlx::FromRow)]
pub struct Leased {
    pub id: Uuid,
    pub routing_key: String,
    pub body: Value,
    /// This attempt's number: the lease counted it.
    pub attempts: i32,
}

/// Leases up to `limit` due events for `lease`, oldest due first, skipping
/// rows other relays hold and the `held` ones.
pub async fn claim(
    pool: &PgPool,
    limit: usize,
    lease: Duration,
    held: &[Uuid],
) -> sqlx::Result<Vec<Leased>> {
    // The due rows are picked once, in a MATERIALIZED CTE: as a subquery
    // joined to the UPDATE, PostgreSQL may scan them again, and a second scan
    // skips the rows this statement already leased and takes the next ones,
    // so the claim returned more rows than asked (seen in the bench).
    sqlx::query_as(
        "WITH due AS MATERIALIZED (
             SELECT id FROM event_outbox
             WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
               AND NOT (id = ANY($3))
             ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE event_outbox o SET lease_until = now() + $2::interval, attempts = o.attempts + 1
         FROM due WHERE o.id = due.id
         RETURNING o.id, o.routing_key, o.body, o.attempts",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(super::pg_interval(lease))
    .bind(held)
    .fetch_all(pool)
    .await
}

/// Published events are done: removed in one statement.
pub async fn delete(pool: &PgPool, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM event_outbox WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Gives a leased event back, due after `delay`. With an `error` (the
/// event's own fault) the attempt counts and the error is kept; without
/// one (the broker was away) the attempt is not counted.
pub async fn reschedule(
    pool: &PgPool,
    id: Uuid,
    delay: Duration,
    error: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE event_outbox SET lease_until = NULL, next_attempt_at = now() + $2::interval,
                last_error = coalesce($3, last_error),
                attempts = attempts - CASE WHEN $3 IS NULL THEN 1 ELSE 0 END
         WHERE id = $1",
    )
    .bind(id)
    .bind(super::pg_interval(delay))
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}
