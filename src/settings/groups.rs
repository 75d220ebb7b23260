//! Settings in groups, one per thing a command talks to. Each subcommand
//! flattens only the groups it uses, so its help lists only those and a bad
//! value of a setting it does not use cannot stop it.

use super::parse::{amqp_name, base_url, ttl};
use crate::store::SecretKey;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// PostgreSQL.
#[derive(Args, Clone, Debug)]
pub struct Database {
    /// PostgreSQL connection URL.
    #[arg(
        id = "database_url",
        long = "database-url",
        env = "DATABASE_URL",
        global = true,
        value_name = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/herald",
        hide_env_values = true
    )]
    pub url: String,
}

/// RabbitMQ: where events arrive and dead letters wait.
#[derive(Args, Clone, Debug)]
pub struct Broker {
    /// RabbitMQ connection URL.
    #[arg(
        long,
        env = "AMQP_URL",
        global = true,
        value_name = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Durable topic exchange the events arrive on.
    #[arg(long, env = "HERALD_EXCHANGE", global = true, value_name = "HERALD_EXCHANGE",
          default_value = "events", value_parser = amqp_name)]
    pub exchange: String,

    /// Herald's queue; dead letters go to `<queue>.dead-letter`.
    #[arg(long, env = "HERALD_QUEUE", global = true, value_name = "HERALD_QUEUE",
          default_value = "herald.events", value_parser = amqp_name)]
    pub queue: String,
}

/// The keys that seal outbox tokens and endpoint secrets.
#[derive(Args, Clone, Debug)]
pub struct Keys {
    /// 32 bytes, standard base64: seals tokens of unsent emails and webhook endpoint secrets.
    #[arg(
        id = "secret_key",
        long = "secret-key",
        env = "HERALD_SECRET_KEY",
        global = true,
        value_name = "HERALD_SECRET_KEY",
        hide_env_values = true
    )]
    pub current: Option<String>,

    /// Older keys, comma-separated, used only to open what they sealed.
    #[arg(
        id = "secret_key_previous",
        long = "secret-key-previous",
        env = "HERALD_SECRET_KEY_PREVIOUS",
        global = true,
        value_name = "HERALD_SECRET_KEY_PREVIOUS",
        hide_env_values = true
    )]
    pub previous: Option<String>,
}

/// How long minted tokens live.
#[derive(Args, Clone, Debug)]
pub struct Lifetimes {
    /// Invite lifetime (humantime: 90s, 15m, 1h, 7d).
    #[arg(long, env = "HERALD_INVITE_TTL", global = true, value_name = "HERALD_INVITE_TTL",
          default_value = "7d", value_parser = ttl)]
    pub invite_ttl: Duration,

    /// Password-reset token lifetime.
    #[arg(long, env = "HERALD_RESET_TTL", global = true, value_name = "HERALD_RESET_TTL",
          default_value = "1h", value_parser = ttl)]
    pub reset_ttl: Duration,
}

/// What emails are made from.
#[derive(Args, Clone, Debug)]
pub struct Rendering {
    /// Email templates.
    #[arg(
        long,
        env = "HERALD_TEMPLATES_DIR",
        global = true,
        value_name = "HERALD_TEMPLATES_DIR",
        default_value = "templates"
    )]
    pub templates_dir: PathBuf,

    /// Base of the links in emails.
    #[arg(long, env = "HERALD_LINK_BASE_URL", global = true, value_name = "HERALD_LINK_BASE_URL",
          default_value = "http://localhost:9000/app", value_parser = base_url)]
    pub link_base_url: String,
}

/// The HTTP listener.
#[derive(Args, Clone, Debug)]
pub struct Listen {
    /// HTTP listener.
    #[arg(
        long,
        env = "HERALD_HTTP_ADDR",
        global = true,
        value_name = "HERALD_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,
}

/// Which webhook targets are allowed.
#[derive(Args, Clone, Debug)]
pub struct Targets {
    /// Allow loopback, private and link-local webhook targets.
    #[arg(long, env = "HERALD_WEBHOOK_ALLOW_PRIVATE", global = true,
          value_name = "HERALD_WEBHOOK_ALLOW_PRIVATE", default_value = "false",
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
}

impl Database {
    /// Kept as a string (it may hold a password, which clap would echo on
    /// error) and checked here instead.
    pub fn check(&self) -> anyhow::Result<()> {
        use std::str::FromStr;
        if !["postgres://", "postgresql://"]
            .iter()
            .any(|s| self.url.starts_with(s))
        {
            anyhow::bail!("DATABASE_URL: expected a postgres:// or postgresql:// URL");
        }
        sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL: {}", redact_url_error(&e.to_string())))?;
        Ok(())
    }
}

impl Broker {
    /// As [`Database::check`].
    pub fn check(&self) -> anyhow::Result<()> {
        use std::str::FromStr;
        if !["amqp://", "amqps://"]
            .iter()
            .any(|s| self.amqp_url.starts_with(s))
        {
            anyhow::bail!("AMQP_URL: expected an amqp:// or amqps:// URL");
        }
        lapin::uri::AMQPUri::from_str(&self.amqp_url)
            .map_err(|e| anyhow::anyhow!("AMQP_URL: {}", redact_url_error(&e)))?;
        Ok(())
    }

    pub fn dead_letter_name(&self) -> String {
        format!("{}.dead-letter", self.queue)
    }
}

impl Keys {
    /// Checks what clap cannot without echoing secrets, and returns the key
    /// that seals outbox tokens. Needed by every command that writes tokens.
    pub fn secret_key(&self) -> anyhow::Result<SecretKey> {
        let raw = self.current.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "HERALD_SECRET_KEY is not set: generate one with `openssl rand -base64 32`"
            )
        })?;
        let key =
            SecretKey::from_base64(raw).map_err(|e| anyhow::anyhow!("HERALD_SECRET_KEY: {e}"))?;
        match self.previous.as_deref() {
            Some(previous) => key
                .with_previous(previous)
                .map_err(|e| anyhow::anyhow!("HERALD_SECRET_KEY_PREVIOUS: {e}")),
            None => Ok(key),
        }
    }
}

fn redact_url_error(message: &str) -> String {
    if message.contains('@') {
        "not a valid URL".to_owned()
    } else {
        format!("not a valid URL ({message})")
    }
}
