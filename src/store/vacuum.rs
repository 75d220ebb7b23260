//! Keeping the queue tables lean where autovacuum does not. Every lease and
//! every recorded attempt updates a row, and each update leaves a dead row
//! version behind, with an entry in every index it touched; the claims walk
//! those indexes (measured on 100,000 deliveries: a webhook claim's first
//! run read 104 buffers on a fresh table, 4,668 with 5,120 dead versions,
//! 52,659 with 99,840; later runs read fewer, as index scans mark the dead
//! entries they pass). With
//! `HERALD_VACUUM_DEAD_ROWS` set, Herald vacuums its queue tables once one
//! carries more dead versions than that, skipping a table someone else
//! (autovacuum, another replica) is already vacuuming. Off by default: each
//! vacuum competes with intake's commits for the disk.

use sqlx::PgPool;

/// The tables whose rows are leased and recorded over and over, each with
/// the statement that vacuums it (VACUUM cannot be prepared, so it is sent
/// as plain text, and its table cannot be a parameter).
const QUEUE_TABLES: [(&str, &str); 3] = [
    ("email_outbox", "VACUUM (SKIP_LOCKED) email_outbox"),
    (
        "webhook_deliveries",
        "VACUUM (SKIP_LOCKED) webhook_deliveries",
    ),
    ("event_outbox", "VACUUM (SKIP_LOCKED) event_outbox"),
];

/// Vacuums each queue table carrying more than `dead_rows` dead row
/// versions; returns the tables vacuumed. A table locked by another vacuum is
/// skipped (`SKIP_LOCKED`); one Herald does not own is skipped by
/// PostgreSQL with a warning in its own log.
pub async fn vacuum_queues(pool: &PgPool, dead_rows: i64) -> sqlx::Result<Vec<&'static str>> {
    let names: Vec<&str> = QUEUE_TABLES.iter().map(|(name, _)| *name).collect();
    let over: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables
         WHERE relid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t) AND n_dead_tup > $2",
    )
    .bind(&names)
    .bind(dead_rows)
    .fetch_all(pool)
    .await?;
    let mut vacuumed = Vec::new();
    for (table, vacuum) in QUEUE_TABLES {
        if over.iter().any(|name| name == table) {
            sqlx::raw_sql(vacuum).execute(pool).await?;
            vacuumed.push(table);
        }
    }
    Ok(vacuumed)
}
