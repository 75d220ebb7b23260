//! Start-up and the worker's lifetime: database ready and migrated, topology
//! declared, then the consumer until shutdown.

use crate::email::{EmailDispatcher, EmailSettings, Mailer, Templates};
use crate::events::Context;
use crate::settings::{Broker, Database, Keys, Settings};
use crate::{intake, retry, store};
use anyhow::Context as _;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Connections for the HTTP API and probes: a flood of requests waits here,
/// never for the worker's connections.
const HTTP_POOL: u32 = 4;

/// Connections for the dispatchers: the three listeners (email, webhooks,
/// relay), their claims, the two batched recorders and the retention job,
/// plus a few for the rows a send reads (an email's invite, say) as the
/// sends in flight grow. No send holds one while it waits on its peer.
fn dispatch_pool_size(settings: &Settings) -> u32 {
    8 + (u32::from(settings.email_concurrency) + u32::from(settings.webhook_concurrency)) / 16
}

/// Creates the database if it does not exist yet, then applies pending
/// migrations (under sqlx's advisory lock, so concurrent replicas are safe).
pub async fn prepare_database(database: &Database, keys: &Keys) -> anyhow::Result<PgPool> {
    let pool = store::prepare_database(&database.url, store::ADMIN_POOL).await?;
    if keys.current.is_some() {
        let sealed = crate::webhooks::endpoints::seal_clear_secrets(&pool, &keys.secret_key()?)
            .await
            .context("sealing webhook endpoint secrets")?;
        if sealed > 0 {
            tracing::info!(sealed, "webhook endpoint secrets sealed at rest");
        }
    }
    Ok(pool)
}

/// Declares the exchange, Herald's queue and the dead-letter queue.
pub async fn declare_topology(broker: &Broker) -> anyhow::Result<()> {
    let conn = intake::connect(&broker.amqp_url, "setup")
        .await
        .context("connecting to RabbitMQ")?;
    let channel = conn.create_channel().await?;
    intake::topology::declare(&channel, broker)
        .await
        .context("declaring the AMQP topology")?;
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// `herald migrate`.
pub async fn migrate(database: &Database, broker: &Broker, keys: &Keys) -> anyhow::Result<()> {
    database.check()?;
    broker.check()?;
    prepare_database(database, keys).await?;
    declare_topology(broker).await?;
    Ok(())
}

/// `herald run`: binds `HERALD_HTTP_ADDR` and runs the worker until `cancel`.
pub async fn run(settings: Settings, cancel: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen.http_addr)
        .await
        .with_context(|| {
            format!(
                "HERALD_HTTP_ADDR: cannot listen on {}",
                settings.listen.http_addr
            )
        })?;
    run_with_listener(settings, listener, cancel).await
}

/// The worker, until `cancel` fires, serving HTTP on `listener` (tests bind
/// port 0). Settings are checked before anything connects; services that are
/// not up yet are waited for.
pub async fn run_with_listener(
    settings: Settings,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    settings.check_urls()?;
    settings.check_api_token()?;
    crate::http::metrics::handle();
    let ctx = Context {
        invite_ttl: chrono::Duration::from_std(settings.lifetimes.invite_ttl)
            .context("HERALD_INVITE_TTL: too long")?,
        reset_ttl: chrono::Duration::from_std(settings.lifetimes.reset_ttl)
            .context("HERALD_RESET_TTL: too long")?,
        key: settings.keys.secret_key()?,
        email_rate_limit: settings.email_rate_limit,
    };
    let key = ctx.key.clone();
    let email_settings = EmailSettings::from_settings(&settings)?;
    let templates = load_templates(&settings)?;
    let mailer = Mailer::from_url(
        &settings.smtp_url,
        settings.smtp_timeout,
        u32::from(settings.email_concurrency),
    )?;
    let Some(intake_pool) = wait_for_database(&settings, &cancel).await else {
        return Ok(());
    };
    tracing::info!("database ready");
    // Intake, dispatch and HTTP each wait on their own connections.
    let pool = store::dispatch_pool(&settings.database.url, dispatch_pool_size(&settings))?;
    let http_pool = store::pool(&settings.database.url, HTTP_POOL)?;
    let broker = intake::BrokerStatus::default();
    // Each component runs until `cancel`; the first to fail stops the others.
    let mut tasks = tokio::task::JoinSet::new();
    {
        let (settings, cancel, broker) = (settings.clone(), cancel.clone(), broker.clone());
        let pool = intake_pool.clone();
        tasks.spawn(async move { intake::consume(&settings, &pool, &ctx, &broker, &cancel).await });
    }
    let emails = std::sync::Arc::new(EmailDispatcher {
        pool: pool.clone(),
        mailer,
        templates,
        key,
        settings: email_settings,
    });
    tasks.spawn(emails.run(cancel.clone()));
    tasks.spawn(crate::relay::run(
        settings.clone(),
        pool.clone(),
        cancel.clone(),
    ));
    let console = crate::console::ConsoleState::new(http_pool.clone(), &settings, broker.clone())?;
    let state = crate::http::AppState::new(http_pool.clone(), &settings, broker);
    let router = crate::http::router(state, settings.api_token.as_deref())
        .merge(crate::console::router(console));
    tasks.spawn(crate::http::serve(listener, router, cancel.clone()));
    {
        let (settings, pool, cancel) = (settings.clone(), pool.clone(), cancel.clone());
        tasks.spawn(
            async move { crate::webhooks::dispatcher::run(&settings, &pool, &cancel).await },
        );
    }
    {
        let (settings, pool, cancel) = (settings.clone(), pool.clone(), cancel.clone());
        tasks.spawn(async move {
            crate::retention::run(&settings, &pool, &cancel).await;
            Ok(())
        });
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
    for pool in [intake_pool, pool, http_pool] {
        pool.close().await;
    }
    result
}

/// Loads the templates and renders each with sample data: a broken
/// template stops start-up before a single email goes out.
pub fn load_templates(settings: &Settings) -> anyhow::Result<Templates> {
    let templates = Templates::load(&settings.rendering.templates_dir)
        .map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    templates
        .check(&settings.rendering.link_base_url)
        .map_err(|e| anyhow::anyhow!("templates: {e}"))?;
    Ok(templates)
}

async fn wait_for_database(settings: &Settings, cancel: &CancellationToken) -> Option<PgPool> {
    let mut backoff = retry::backoff();
    loop {
        match prepare_database(&settings.database, &settings.keys).await {
            Ok(pool) => return Some(pool),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "PostgreSQL not ready; retrying"),
        }
        if !retry::pause(backoff.next(), cancel).await {
            return None;
        }
    }
}
