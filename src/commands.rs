//! What each `herald` subcommand does, in terms of the library.

use crate::cli::{Command, DeadLetters, KeysCommand, Setup, TemplatesCommand, WebhooksArgs};
use crate::settings::{Broker, Listen, Settings};
use crate::{app, intake};
use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub async fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(settings) => {
            let settings = *settings;
            let cancel = CancellationToken::new();
            tokio::spawn(cancel_on_signal(cancel.clone()));
            let limit = shutdown_limit(&settings);
            let run = app::run(settings, cancel.clone());
            tokio::pin!(run);
            tokio::select! {
                ran = &mut run => ran,
                _ = async { cancel.cancelled().await; tokio::time::sleep(limit).await } => {
                    // Whatever is still unrecorded comes back by lease.
                    anyhow::bail!(
                        "in-flight work did not finish within {} of the signal; stopped anyway",
                        humantime::format_duration(limit)
                    )
                }
            }
        }
        Command::Migrate(Setup {
            database,
            broker,
            keys,
        }) => {
            app::migrate(&database, &broker, &keys).await?;
            eprintln!("migrations applied; topology declared");
            Ok(())
        }
        Command::Publish {
            event_type,
            data,
            id,
            broker,
        } => {
            if !crate::events::EVENT_TYPES.contains(&event_type.as_str()) {
                anyhow::bail!(
                    "Herald does not consume {event_type:?}; it consumes {}",
                    crate::events::EVENT_TYPES.join(", ")
                );
            }
            let data: serde_json::Value =
                serde_json::from_str(&data).context("--data is not JSON")?;
            let id = id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            broker.check()?;
            let conn = intake::connect(&broker.amqp_url, "cli")
                .await
                .context("connecting to RabbitMQ")?;
            let channel = conn.create_channel().await?;
            channel.confirm_select(Default::default()).await?;
            intake::publisher::publish_event(&channel, &broker, &event_type, &id, data).await?;
            let _ = conn.close(200, "done".into()).await;
            println!("{id}");
            Ok(())
        }
        Command::Templates(TemplatesCommand::Check { rendering }) => {
            let templates = crate::email::Templates::load(&rendering.templates_dir)?;
            let n = templates.check(&rendering.link_base_url)?;
            println!("{n} templates render");
            Ok(())
        }
        Command::Templates(TemplatesCommand::Render {
            name,
            data,
            locale,
            token,
            rendering,
            lifetimes,
        }) => {
            let mut data: serde_json::Value =
                serde_json::from_str(&data).context("--data is not JSON")?;
            let template: crate::store::EmailTemplate = name
                .parse()
                .map_err(|e: crate::domain::NotInSet| anyhow::anyhow!(e))?;
            let templates = crate::email::Templates::load(&rendering.templates_dir)?;
            // The expiry the handler would store for this data, so the derived
            // wording comes out as in a real email.
            let ttl = match template {
                crate::store::EmailTemplate::Invite => Some(lifetimes.invite_ttl),
                crate::store::EmailTemplate::PasswordReset => Some(lifetimes.reset_ttl),
                crate::store::EmailTemplate::Welcome => None,
            };
            if let (Some(ttl), Some(map)) = (ttl, data.as_object_mut())
                && !map.contains_key("expires_at")
            {
                let at = chrono::Utc::now() + crate::store::pg_interval(ttl);
                map.insert("expires_at".into(), serde_json::json!(at));
            }
            let locale = locale.or_else(|| data["locale"].as_str().map(str::to_owned));
            let ctx = crate::email::render_context(
                template,
                &data,
                Some(&token),
                &rendering.link_base_url,
                locale.as_deref(),
            );
            let r = templates.render(template, locale.as_deref(), &ctx)?;
            println!("Subject: {}\n\n{}\n\n{}", r.subject, r.text, r.html);
            Ok(())
        }
        Command::DeadLetters(action) => {
            let (DeadLetters::List { broker, .. } | DeadLetters::Replay { broker, .. }) = &action;
            let conn = dead_letter_channel(broker).await?;
            let channel = conn.create_channel().await?;
            intake::topology::declare(&channel, broker).await?;
            match &action {
                DeadLetters::List { limit, broker } => {
                    for line in intake::dead_letter::list(&channel, broker, *limit).await? {
                        println!("{line}");
                    }
                }
                DeadLetters::Replay { limit, broker } => {
                    let n = intake::dead_letter::replay(&channel, broker, *limit).await?;
                    println!("replayed {n}");
                }
            }
            let _ = conn.close(200, "done".into()).await;
            Ok(())
        }
        Command::Health { timeout, listen } => health(&listen, timeout).await,
        Command::Webhooks(WebhooksArgs {
            command,
            database,
            keys,
            targets,
        }) => crate::webhooks::cli::run(command, &database, &keys, &targets).await,
        Command::Emails(args) => crate::ops::cli::emails(args).await,
        Command::Events(args) => crate::ops::cli::events(args).await,
        Command::Keys(KeysCommand::Check { database, keys }) => {
            let key = keys.secret_key()?;
            database.check()?;
            let pool = crate::store::existing(&database.url, crate::store::ADMIN_POOL).await?;
            let report = crate::store::key_check::check(&pool, &key).await?;
            pool.close().await;
            println!("{report}");
            if report.unopened > 0 {
                anyhow::bail!(
                    "{} sealed values open with no configured key: add the key that sealed them to HERALD_SECRET_KEY_PREVIOUS",
                    report.unopened
                );
            }
            Ok(())
        }
    }
}

/// A connection for the dead-letter commands.
async fn dead_letter_channel(broker: &Broker) -> anyhow::Result<lapin::Connection> {
    broker.check()?;
    intake::connect(&broker.amqp_url, "cli")
        .await
        .context("connecting to RabbitMQ")
}

/// `herald health`: 200 from `/readyz` or an error saying what is not ready.
async fn health(listen: &Listen, timeout: std::time::Duration) -> anyhow::Result<()> {
    let mut addr = listen.http_addr;
    // A worker listening on every interface is reached on loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/readyz");
    // reqwest is built without a default TLS provider; plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::builder()
        .timeout(timeout)
        .build()?
        .get(&url)
        .send()
        .await
        .with_context(|| format!("no answer from {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("not ready ({status}): {}", body.trim());
    }
    println!("ready");
    Ok(())
}

/// How long a graceful stop may take: the longest send in flight, then the
/// grace its record gets, with a margin. Past it `run` stops regardless.
fn shutdown_limit(settings: &Settings) -> std::time::Duration {
    settings.smtp_timeout.max(settings.webhook_timeout)
        + crate::retry::SHUTDOWN_GRACE
        + std::time::Duration::from_secs(5)
}

/// SIGINT or SIGTERM starts a graceful stop.
async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight work"),
        _ = int.recv() => tracing::info!("SIGINT: finishing in-flight work"),
    }
    cancel.cancel();
}
