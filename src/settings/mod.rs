//! Every setting, as a flag and an environment variable (`.env` is read first).
//! Values are parsed here, so a bad one stops start-up with one line naming it.

mod groups;
mod parse;

pub use crate::store::email_outbox::RateLimit;
use clap::{Args, ValueEnum};
pub use groups::{Broker, Database, Keys, Lifetimes, Listen, Rendering, Targets};
pub use parse::rate_limit as parse_rate_limit;
use parse::{rate_limit, schedule, trusted_proxies, ttl};
use std::time::Duration;

/// Everything `herald run` uses: the groups every command shares, then the
/// worker's own settings.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    #[command(flatten)]
    pub database: Database,

    #[command(flatten)]
    pub broker: Broker,

    #[command(flatten)]
    pub keys: Keys,

    #[command(flatten)]
    pub lifetimes: Lifetimes,

    #[command(flatten)]
    pub rendering: Rendering,

    #[command(flatten)]
    pub listen: Listen,

    #[command(flatten)]
    pub targets: Targets,

    /// Events held unacknowledged at once; what has arrived of them is
    /// handled in one transaction.
    #[arg(long, env = "HERALD_PREFETCH", global = true, value_name = "HERALD_PREFETCH",
          default_value = "64", value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    /// SMTP (lettre URL) or `file:///DIR` for development.
    #[arg(
        long,
        env = "SMTP_URL",
        global = true,
        value_name = "SMTP_URL",
        default_value = "smtp://127.0.0.1:1025",
        hide_env_values = true
    )]
    pub smtp_url: String,

    /// One SMTP exchange (connect, send, reply); a send that takes longer is
    /// retried as a transient failure.
    #[arg(long, env = "HERALD_SMTP_TIMEOUT", global = true, value_name = "HERALD_SMTP_TIMEOUT",
          default_value = "30s", value_parser = ttl)]
    pub smtp_timeout: Duration,

    /// From header of every email.
    #[arg(
        long,
        env = "HERALD_MAIL_FROM",
        global = true,
        value_name = "HERALD_MAIL_FROM",
        default_value = "Herald <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// Bearer token for `/v1`, at least 32 characters.
    #[arg(
        long,
        env = "HERALD_API_TOKEN",
        global = true,
        value_name = "HERALD_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,

    /// Delays between email attempts after a transient failure.
    #[arg(long, env = "HERALD_EMAIL_RETRY_SCHEDULE", global = true,
          value_name = "HERALD_EMAIL_RETRY_SCHEDULE", default_value = "30s,2m,10m,30m,1h,3h",
          value_parser = schedule)]
    pub email_retry_schedule: Schedule,

    /// Delays between webhook attempts.
    #[arg(long, env = "HERALD_WEBHOOK_RETRY_SCHEDULE", global = true,
          value_name = "HERALD_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h",
          value_parser = schedule)]
    pub webhook_retry_schedule: Schedule,

    /// One webhook attempt.
    #[arg(long, env = "HERALD_WEBHOOK_TIMEOUT", global = true, value_name = "HERALD_WEBHOOK_TIMEOUT",
          default_value = "15s", value_parser = ttl)]
    pub webhook_timeout: Duration,

    /// Disable a webhook endpoint whose every attempt has failed for this long.
    #[arg(long, env = "HERALD_WEBHOOK_DISABLE_AFTER", global = true,
          value_name = "HERALD_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = ttl)]
    pub webhook_disable_after: Duration,

    /// CIDRs of the proxies (your back end) whose `X-Forwarded-For` names the
    /// end user for the token-guess throttle, comma-separated; empty: none.
    #[arg(long, env = "HERALD_TRUSTED_PROXIES", global = true,
          value_name = "HERALD_TRUSTED_PROXIES", default_value = "", value_parser = trusted_proxies)]
    pub trusted_proxies: TrustedProxies,

    /// Invite and reset emails per recipient (`5/h`, `20/d`; `0` turns the limit off).
    #[arg(long, env = "HERALD_EMAIL_RATE_LIMIT", global = true, value_name = "HERALD_EMAIL_RATE_LIMIT",
          default_value = "5/h", value_parser = rate_limit)]
    pub email_rate_limit: RateLimit,

    /// Emails in flight at once, each on its own SMTP connection (most
    /// relays allow a client 50; the bench gained 14 % from 16 to 48).
    #[arg(long, env = "HERALD_EMAIL_CONCURRENCY", global = true,
          value_name = "HERALD_EMAIL_CONCURRENCY", default_value = "32",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub email_concurrency: u16,

    /// Webhook requests in flight at once (a quarter of them to any one
    /// endpoint). Each is an idle future while it waits, so the default is
    /// high: at 32, one endpoint's deliveries ran at half the rate (bench).
    #[arg(long, env = "HERALD_WEBHOOK_CONCURRENCY", global = true,
          value_name = "HERALD_WEBHOOK_CONCURRENCY", default_value = "128",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub webhook_concurrency: u16,

    /// Finished rows (emails, deliveries, their attempts, spent tokens,
    /// processed ids, ended invites) older than this are deleted.
    #[arg(long, env = "HERALD_RETENTION", global = true, value_name = "HERALD_RETENTION",
          default_value = "30d", value_parser = ttl)]
    pub retention: Duration,

    /// Dead row versions a queue table (`email_outbox`,
    /// `webhook_deliveries`, `event_outbox`) may carry before Herald
    /// vacuums it itself; 0 (the default) leaves vacuuming to autovacuum.
    /// For databases running without autovacuum: on the bench, 5,000 kept
    /// a 100,000 backlog draining as fast as a 20,000 one, but raised the
    /// paced p99 from 40-109 ms to 323-659 ms (each vacuum competes with
    /// intake's commits for the disk).
    #[arg(
        long,
        env = "HERALD_VACUUM_DEAD_ROWS",
        global = true,
        value_name = "HERALD_VACUUM_DEAD_ROWS",
        default_value = "0"
    )]
    pub vacuum_dead_rows: u32,
}

/// The shortest `HERALD_API_TOKEN` accepted.
pub const MIN_API_TOKEN_CHARS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Delays between attempts; its length is the number of retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

/// The peers whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl Settings {
    /// Webhook requests one endpoint may have in flight: a quarter of
    /// `HERALD_WEBHOOK_CONCURRENCY`, so a slow receiver cannot hold them all.
    pub fn webhook_per_endpoint(&self) -> u16 {
        (self.webhook_concurrency / 4).max(1)
    }

    /// `HERALD_API_TOKEN`, when set, is long enough not to be guessed
    /// (checked here, not by clap, whose error would echo it).
    pub fn check_api_token(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.api_token
            && token.chars().count() < MIN_API_TOKEN_CHARS
        {
            anyhow::bail!(
                "HERALD_API_TOKEN: too short ({} characters, at least {MIN_API_TOKEN_CHARS}); generate one with `openssl rand -hex 32`",
                token.chars().count()
            );
        }
        Ok(())
    }

    /// Both URLs, as [`Database::check`] does.
    pub fn check_urls(&self) -> anyhow::Result<()> {
        self.database.check()?;
        self.broker.check()
    }
}
