//! What the handlers write: the event-id dedupe, email outbox rows, and the
//! key that seals a token while its email waits to be sent; the webhook
//! deliveries' and the event outbox's statements (`webhook_deliveries`,
//! `event_outbox`), each table's in one module.

pub mod announce;
mod database;
pub mod delivery_log;
pub mod email_outbox;
pub mod erasure;
pub mod event_outbox;
pub mod held;
pub mod key_check;
mod processed;
mod recordable;
pub mod recorder;
pub mod retention;
pub mod runner;
pub mod secret_key;
pub mod vacuum;
pub mod wake;
pub mod webhook_deliveries;

pub use announce::{Announcement, RELAY_WAKE_CHANNEL, WEBHOOK_WAKE_CHANNEL, announce};
pub use database::{ADMIN_POOL, prepare_database};
pub use email_outbox::{
    EMAIL_WAKE_CHANNEL, EmailStatus, EmailTemplate, NewEmail, insert_dropped_email, insert_email,
    insert_emails,
};
pub use processed::{ProcessedEvent, record_event, record_events};
pub use recordable::recordable;
pub use secret_key::{OpenError, Place, SecretKey};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Embedded migrations. sqlx holds a PostgreSQL advisory lock while applying
/// them, so replicas starting together apply each migration once.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether a text from a caller can equal a stored one: PostgreSQL's text
/// holds no NUL, and refuses a parameter holding one, so a lookup for such a
/// text finds nothing without asking.
pub fn matchable(text: &str) -> bool {
    !text.contains('\0')
}

/// A pool of at most `max` connections that fails fast when PostgreSQL is
/// unreachable, so the caller can decide to wait and retry instead of hanging.
pub fn pool(database_url: &str, max: u32) -> anyhow::Result<PgPool> {
    Ok(lazy_pool(session_options(database_url)?, max))
}

/// Every Herald session runs without JIT compilation. Herald's statements
/// are short, but on a large never-analysed queue table the planner's cost
/// estimate for a claim passes the JIT thresholds, and PostgreSQL then
/// compiles the plan on every execution: measured here, 364 ms of
/// compiling for a webhook claim that ran in 0.6 ms.
fn session_options(database_url: &str) -> anyhow::Result<PgConnectOptions> {
    Ok(PgConnectOptions::from_str(database_url)?.options([("jit", "off")]))
}

fn lazy_pool(options: PgConnectOptions, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options)
}

/// The dispatchers' pool: their claims, records and the relay's deletions
/// commit without waiting for the WAL flush (`synchronous_commit = off`).
/// A PostgreSQL crash can then forget the last fraction of a second of them:
/// a lease or a record lost that way makes the row due again, so it is sent
/// once more (at least once, as after a worker's crash), never lost. Intake
/// and the HTTP API, whose commits are acknowledged to others, keep
/// durable commits.
pub fn dispatch_pool(database_url: &str, max: u32) -> anyhow::Result<PgPool> {
    let options = session_options(database_url)?.options([("synchronous_commit", "off")]);
    Ok(lazy_pool(options, max))
}

/// A pool on a database that must already exist: admin commands never
/// create one, so a mistyped `DATABASE_URL` fails instead of making a new,
/// empty database. Only `herald migrate` and `herald run` create and migrate.
pub async fn existing(database_url: &str, max: u32) -> anyhow::Result<PgPool> {
    use anyhow::Context as _;
    use sqlx::migrate::MigrateDatabase as _;
    let exists = sqlx::Postgres::database_exists(database_url)
        .await
        .context("connecting to PostgreSQL")?;
    if !exists {
        let name = PgConnectOptions::from_str(database_url)?
            .get_database()
            .unwrap_or("postgres")
            .to_owned();
        anyhow::bail!(
            "DATABASE_URL: database {name:?} does not exist; `herald migrate` creates it"
        );
    }
    pool(database_url, max)
}

/// A duration as PostgreSQL's `interval` takes it: whole microseconds, and
/// at most about 292,000 years.
pub fn pg_interval(d: Duration) -> chrono::Duration {
    let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 1000);
    chrono::Duration::microseconds(micros)
}
