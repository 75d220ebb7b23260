//! What each `herald` subcommand does, in terms of the library.

use crate::cli::{Command, DeadLetters, KeysCommand, TemplatesCommand};
use crate::settings::Settings;
use crate::{app, intake};
use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

pub async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Run => {
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
        Command::Migrate => {
            app::migrate(&settings).await?;
            eprintln!("migrations applied; topology declared");
            Ok(())
        }
        Command::Publish {
            event_type,
            data,
            id,
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
            settings.check_urls()?;
            let conn = intake::connect(&settings.amqp_url, "cli")
                .await
                .context("connecting to RabbitMQ")?;
            let channel = conn.create_channel().await?;
            channel.confirm_select(Default::default()).await?;
            intake::publisher::publish_event(&channel, &settings, &event_type, &id, data).await?;
            let _ = conn.close(200, "done".into()).await;
            println!("{id}");
            Ok(())
        }
        Command::Templates(TemplatesCommand::Check) => {
            let templates = crate::email::Templates::load(&settings.templates_dir)?;
            let n = templates.check(&settings.link_base_url)?;
            println!("{n} templates render");
            Ok(())
        }
        Command::Templates(TemplatesCommand::Render {
            name,
            data,
            locale,
            token,
        }) => {
            let mut data: serde_json::Value =
                serde_json::from_str(&data).context("--data is not JSON")?;
            let templates = crate::email::Templates::load(&settings.templates_dir)?;
            // The expiry the handler would store for this data, so the derived
            // wording comes out as in a real email.
            let ttl = match name.as_str() {
                "invite" => Some(settings.invite_ttl),
                "password_reset" => Some(settings.reset_ttl),
                _ => None,
            };
            if let (Some(ttl), Some(map)) = (ttl, data.as_object_mut())
                && !map.contains_key("expires_at")
            {
                let at = chrono::Utc::now() + crate::store::pg_interval(ttl);
                map.insert("expires_at".into(), serde_json::json!(at));
            }
            let locale = locale.or_else(|| data["locale"].as_str().map(str::to_owned));
            let ctx = crate::email::render_context(
                &name,
                &data,
                Some(&token),
                &settings.link_base_url,
                locale.as_deref(),
            );
            let r = templates.render(&name, locale.as_deref(), &ctx)?;
            println!("Subject: {}\n\n{}\n\n{}", r.subject, r.text, r.html);
            Ok(())
        }
        Command::DeadLetters(action) => {
            settings.check_urls()?;
            let conn = intake::connect(&settings.amqp_url, "cli")
                .await
                .context("connecting to RabbitMQ")?;
            let channel = conn.create_channel().await?;
            intake::topology::declare(&channel, &settings).await?;
            match action {
                DeadLetters::List { limit } => {
                    for line in intake::dead_letter::list(&channel, &settings, limit).await? {
                        println!("{line}");
                    }
                }
                DeadLetters::Replay { limit } => {
                    let n = intake::dead_letter::replay(&channel, &settings, limit).await?;
                    println!("replayed {n}");
                }
            }
            let _ = conn.close(200, "done".into()).await;
            Ok(())
        }
        Command::Health { timeout } => health(&settings, timeout).await,
        Command::Webhooks(cmd) => crate::webhooks::cli::run(cmd, &settings).await,
        Command::Keys(KeysCommand::Check) => {
            let key = settings.secret_key()?;
            settings.check_urls()?;
            let pool = app::prepare_database(&settings).await?;
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

/// `herald health`: 200 from `/readyz` or an error saying what is not ready.
async fn health(settings: &Settings, timeout: std::time::Duration) -> anyhow::Result<()> {
    let mut addr = settings.http_addr;
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
