//! `herald webhooks …`: endpoint management and replay from the command line.

use super::endpoints::{self, NewEndpoint};
use crate::settings::{Database, Keys, Targets};
use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[derive(Subcommand, Debug)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its id and its secret (shown only here).
    Add {
        /// Where events are POSTed (http:// or https://).
        url: String,
        /// Event types to send, comma-separated; every type when absent.
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// `whsec_` + base64 of 24 to 64 bytes; generated when absent.
        #[arg(long)]
        secret: Option<String>,
    },
    /// Print every endpoint, one JSON object per line (secrets are never shown again).
    List,
    /// Give an endpoint a new secret (printed once); the old one signs too
    /// for the grace period, so receivers verify with either.
    #[command(name = "rotate-secret")]
    RotateSecret {
        /// The endpoint's id (see `webhooks list`).
        id: Uuid,
        /// How long the old secret keeps signing (humantime: 24h, 90m; 0s: not at all).
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        grace: Duration,
    },
    /// Remove an endpoint with its deliveries.
    Remove {
        /// The endpoint's id (see `webhooks list`).
        id: Uuid,
    },
    /// Enable an endpoint; its pending deliveries resume.
    Enable {
        /// The endpoint's id (see `webhooks list`).
        id: Uuid,
    },
    /// Disable an endpoint; its deliveries wait until it is enabled.
    Disable {
        /// The endpoint's id (see `webhooks list`).
        id: Uuid,
    },
    /// Re-queue failed deliveries (and, with --pending, send waiting ones now).
    Replay {
        /// Also make pending deliveries that wait for a later retry due now.
        #[arg(long)]
        pending: bool,
        /// Only this endpoint's.
        #[arg(long)]
        endpoint: Option<Uuid>,
        /// Only deliveries created within this long (humantime: 90m, 2d).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
    },
}

pub async fn run(
    command: WebhooksCommand,
    database: &Database,
    keys: &Keys,
    targets: &Targets,
) -> anyhow::Result<()> {
    database.check()?;
    let pool = crate::store::existing(&database.url, crate::store::ADMIN_POOL).await?;
    match command {
        WebhooksCommand::Add {
            url,
            events,
            secret,
        } => {
            let new = NewEndpoint {
                url: &url,
                event_types: events,
                secret: secret.as_deref(),
                allow_private: targets.webhook_allow_private,
            };
            let (id, secret) = endpoints::create(&pool, &keys.secret_key()?, new).await?;
            println!("id: {id}");
            println!("secret: {}", secret.expose());
        }
        WebhooksCommand::List => {
            for e in endpoints::list(&pool).await? {
                let line = json!({
                    "id": e.id, "url": e.url, "events": e.event_types, "enabled": e.enabled,
                    "disabled_reason": e.disabled_reason,
                    "previous_secret_until": e.previous_secret_until,
                    "created_at": e.created_at,
                });
                println!("{line}");
            }
        }
        WebhooksCommand::RotateSecret { id, grace } => {
            let secret = endpoints::rotate_secret(&pool, &keys.secret_key()?, id, grace).await?;
            println!("secret: {}", secret.expose());
            if !grace.is_zero() {
                println!(
                    "the old secret signs too for {}",
                    humantime::format_duration(grace)
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            endpoints::remove(&pool, id).await?;
            println!("removed {id}");
        }
        WebhooksCommand::Enable { id } => {
            endpoints::enable(&pool, id).await?;
            println!("enabled {id}");
        }
        WebhooksCommand::Disable { id } => {
            endpoints::disable(&pool, id, "disabled by an operator").await?;
            println!("disabled {id}");
        }
        WebhooksCommand::Replay {
            endpoint,
            since,
            pending,
        } => {
            let since = since
                .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() - d))
                .transpose()
                .context("--since: too long")?;
            let n = endpoints::replay(&pool, endpoint, since).await?;
            println!("replayed {n}");
            if pending {
                let n = endpoints::bring_forward(&pool, endpoint, since).await?;
                println!("brought forward {n} pending");
            }
        }
    }
    pool.close().await;
    Ok(())
}
