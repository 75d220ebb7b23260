//! Start-up and the worker's lifetime: database ready and migrated, topology
//! declared, then the consumer until shutdown.

use crate::events::Context;
use crate::settings::Settings;
use crate::{intake, retry, store};
use anyhow::Context as _;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use tokio_util::sync::CancellationToken;

/// Creates the database if it does not exist yet, then applies pending
/// migrations (under sqlx's advisory lock, so concurrent replicas are safe).
pub async fn prepare_database(settings: &Settings) -> anyhow::Result<PgPool> {
    let url = settings.database_url.as_str();
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
    let pool = store::pool(url)?;
    store::MIGRATOR
        .run(&pool)
        .await
        .context("applying migrations")?;
    Ok(pool)
}

/// Declares the exchange, Herald's queue and the dead-letter queue.
pub async fn declare_topology(settings: &Settings) -> anyhow::Result<()> {
    let conn = intake::connect(&settings.amqp_url, "setup")
        .await
        .context("connecting to RabbitMQ")?;
    let channel = conn.create_channel().await?;
    intake::topology::declare(&channel, settings)
        .await
        .context("declaring the AMQP topology")?;
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// `herald migrate`.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    settings.check_urls()?;
    prepare_database(settings).await?;
    declare_topology(settings).await?;
    Ok(())
}

/// `herald run`: the worker, until `cancel` fires. Settings are checked before
/// anything connects; services that are not up yet are waited for.
pub async fn run(settings: Settings, cancel: CancellationToken) -> anyhow::Result<()> {
    settings.check_urls()?;
    let ctx = Context {
        invite_ttl: chrono::Duration::from_std(settings.invite_ttl)
            .context("HERALD_INVITE_TTL: too long")?,
        reset_ttl: chrono::Duration::from_std(settings.reset_ttl)
            .context("HERALD_RESET_TTL: too long")?,
        key: settings.secret_key()?,
    };
    let Some(pool) = wait_for_database(&settings, &cancel).await else {
        return Ok(());
    };
    tracing::info!("database ready");
    // Each component runs until `cancel`; the first to fail stops the others.
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (settings, pool, cancel) = (settings.clone(), pool.clone(), cancel.clone());
        tasks.spawn(async move { intake::consume(&settings, &pool, &ctx, &cancel).await });
    }
    {
        let (settings, pool, cancel) = (settings.clone(), pool.clone(), cancel.clone());
        tasks.spawn(
            async move { crate::webhooks::dispatcher::run(&settings, &pool, &cancel).await },
        );
    }
    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
            cancel.cancel();
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    pool.close().await;
    result
}

async fn wait_for_database(settings: &Settings, cancel: &CancellationToken) -> Option<PgPool> {
    let mut backoff = retry::backoff();
    loop {
        match prepare_database(settings).await {
            Ok(pool) => return Some(pool),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "PostgreSQL not ready; retrying"),
        }
        if !retry::pause(backoff.next(), cancel).await {
            return None;
        }
    }
}
