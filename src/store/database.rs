//! The database itself: created when missing, migrated to this build.

use anyhow::Context as _;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};

/// Connections for commands, migrations and the consumer's one transaction
/// at a time.
pub const ADMIN_POOL: u32 = 2;

/// Creates the database if it does not exist yet, then applies pending
/// migrations (under sqlx's advisory lock, so concurrent replicas are safe).
/// Returns a pool of at most `max` connections.
pub async fn prepare_database(url: &str, max: u32) -> anyhow::Result<PgPool> {
    if !Postgres::database_exists(url)
        .await
        .context("connecting to PostgreSQL")?
    {
        // Another replica may win the race; only its absence afterwards is an error.
        if let Err(e) = Postgres::create_database(url).await
            && !Postgres::database_exists(url).await?
        {
            return Err(e).context("creating the database");
        }
    }
    let pool = super::pool(url, max)?;
    super::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    Ok(pool)
}
