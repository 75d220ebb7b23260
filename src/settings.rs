//! Every setting, as a flag and an environment variable (`.env` is read first).
//! Values are parsed here, so a bad one stops start-up with one line naming it.

use crate::store::SecretKey;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        value_name = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/herald",
        hide_env_values = true
    )]
    pub database_url: String,

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

    /// Events held unacknowledged at once; what has arrived of them is
    /// handled in one transaction.
    #[arg(long, env = "HERALD_PREFETCH", global = true, value_name = "HERALD_PREFETCH",
          default_value = "64", value_parser = clap::value_parser!(u16).range(1..))]
    pub prefetch: u16,

    /// Invite lifetime (humantime: 90s, 15m, 1h, 7d).
    #[arg(long, env = "HERALD_INVITE_TTL", global = true, value_name = "HERALD_INVITE_TTL",
          default_value = "7d", value_parser = ttl)]
    pub invite_ttl: Duration,

    /// Password-reset token lifetime.
    #[arg(long, env = "HERALD_RESET_TTL", global = true, value_name = "HERALD_RESET_TTL",
          default_value = "1h", value_parser = ttl)]
    pub reset_ttl: Duration,

    /// 32 bytes, standard base64: seals tokens of unsent emails and webhook endpoint secrets.
    #[arg(
        long,
        env = "HERALD_SECRET_KEY",
        global = true,
        value_name = "HERALD_SECRET_KEY",
        hide_env_values = true
    )]
    pub secret_key: Option<String>,

    /// Older keys, comma-separated, used only to open what they sealed.
    #[arg(
        long,
        env = "HERALD_SECRET_KEY_PREVIOUS",
        global = true,
        value_name = "HERALD_SECRET_KEY_PREVIOUS",
        hide_env_values = true
    )]
    pub secret_key_previous: Option<String>,

    /// `pretty` or `json`; by default pretty on a terminal, JSON otherwise.
    #[arg(
        long,
        env = "HERALD_LOG_FORMAT",
        global = true,
        value_name = "HERALD_LOG_FORMAT"
    )]
    pub log_format: Option<LogFormat>,

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

    /// HTTP listener.
    #[arg(
        long,
        env = "HERALD_HTTP_ADDR",
        global = true,
        value_name = "HERALD_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,

    /// Bearer token for `/v1`, at least 32 characters.
    #[arg(
        long,
        env = "HERALD_API_TOKEN",
        global = true,
        value_name = "HERALD_API_TOKEN",
        hide_env_values = true
    )]
    pub api_token: Option<String>,

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

    /// Allow loopback, private and link-local webhook targets.
    #[arg(long, env = "HERALD_WEBHOOK_ALLOW_PRIVATE", global = true,
          value_name = "HERALD_WEBHOOK_ALLOW_PRIVATE", default_value = "false",
          value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

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

    /// Emails in flight at once.
    #[arg(long, env = "HERALD_EMAIL_CONCURRENCY", global = true,
          value_name = "HERALD_EMAIL_CONCURRENCY", default_value = "16",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub email_concurrency: u16,

    /// Webhook requests in flight at once.
    #[arg(long, env = "HERALD_WEBHOOK_CONCURRENCY", global = true,
          value_name = "HERALD_WEBHOOK_CONCURRENCY", default_value = "32",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub webhook_concurrency: u16,
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

/// At most `max` emails per `per` to one address; `max == 0` is no limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

impl Settings {
    /// Webhook requests one endpoint may have in flight: a quarter of
    /// `HERALD_WEBHOOK_CONCURRENCY`, so a slow receiver cannot hold them all.
    pub fn webhook_per_endpoint(&self) -> u16 {
        (self.webhook_concurrency / 4).max(1)
    }

    /// Checks what clap cannot without echoing secrets, and returns the key
    /// that seals outbox tokens. Needed by every command that writes tokens.
    pub fn secret_key(&self) -> anyhow::Result<SecretKey> {
        let raw = self.secret_key.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "HERALD_SECRET_KEY is not set: generate one with `openssl rand -base64 32`"
            )
        })?;
        let key =
            SecretKey::from_base64(raw).map_err(|e| anyhow::anyhow!("HERALD_SECRET_KEY: {e}"))?;
        match self.secret_key_previous.as_deref() {
            Some(previous) => key
                .with_previous(previous)
                .map_err(|e| anyhow::anyhow!("HERALD_SECRET_KEY_PREVIOUS: {e}")),
            None => Ok(key),
        }
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

    /// The URLs are kept as strings (they may hold passwords, which clap
    /// would echo on error); they are checked here instead.
    pub fn check_urls(&self) -> anyhow::Result<()> {
        use std::str::FromStr;
        if !["postgres://", "postgresql://"]
            .iter()
            .any(|s| self.database_url.starts_with(s))
        {
            anyhow::bail!("DATABASE_URL: expected a postgres:// or postgresql:// URL");
        }
        if !["amqp://", "amqps://"]
            .iter()
            .any(|s| self.amqp_url.starts_with(s))
        {
            anyhow::bail!("AMQP_URL: expected an amqp:// or amqps:// URL");
        }
        sqlx::postgres::PgConnectOptions::from_str(&self.database_url)
            .map_err(|e| anyhow::anyhow!("DATABASE_URL: {}", redact_url_error(&e.to_string())))?;
        lapin::uri::AMQPUri::from_str(&self.amqp_url)
            .map_err(|e| anyhow::anyhow!("AMQP_URL: {}", redact_url_error(&e)))?;
        Ok(())
    }

    pub fn dead_letter_name(&self) -> String {
        format!("{}.dead-letter", self.queue)
    }
}

fn redact_url_error(message: &str) -> String {
    if message.contains('@') {
        "not a valid URL".to_owned()
    } else {
        format!("not a valid URL ({message})")
    }
}

fn ttl(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{e} (examples: 90s, 15m, 1h, 7d)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

fn schedule(raw: &str) -> Result<Schedule, String> {
    raw.split(',')
        .map(|part| ttl(part).map_err(|e| format!("{:?}: {e}", part.trim())))
        .collect::<Result<Vec<_>, _>>()
        .map(Schedule)
}

fn rate_limit(raw: &str) -> Result<RateLimit, String> {
    let raw = raw.trim();
    if raw == "0" {
        return Ok(RateLimit {
            max: 0,
            per: Duration::from_secs(3600),
        });
    }
    let (max, unit) = raw
        .split_once('/')
        .ok_or("expected COUNT/UNIT such as 5/h, or 0 for no limit")?;
    let max: u32 = max
        .trim()
        .parse()
        .map_err(|_| format!("{max:?} is not a count"))?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        other => ttl(other)?,
    };
    Ok(RateLimit { max, per })
}

/// `HERALD_TRUSTED_PROXIES`: comma-separated CIDRs, empty for none.
fn trusted_proxies(raw: &str) -> Result<TrustedProxies, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(cidr)
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

/// `10.0.0.0/8`, `fd00::/8`, or one address.
fn cidr(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not a CIDR (10.0.0.0/8) or an IP address"))
}

fn base_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) || trimmed.len() < 10 {
        return Err("expected an http:// or https:// URL".into());
    }
    // Links go into HTML attributes unescaped (their values are percent-encoded).
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'<>`".contains(c))
    {
        return Err("must not contain spaces, quotes or angle brackets".into());
    }
    Ok(trimmed.to_owned())
}

fn amqp_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 200 || raw.chars().any(char::is_control) {
        return Err("expected 1 to 200 printable characters".into());
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedules_limits_and_durations() {
        assert_eq!(
            schedule("5s, 2m").unwrap(),
            Schedule(vec![Duration::from_secs(5), Duration::from_secs(120)])
        );
        assert!(schedule("5s,soon").is_err());
        assert_eq!(
            rate_limit("5/h").unwrap(),
            RateLimit {
                max: 5,
                per: Duration::from_secs(3600)
            }
        );
        assert_eq!(rate_limit("0").unwrap().max, 0);
        assert!(rate_limit("many").is_err());
        assert_eq!(ttl("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(ttl("0s").is_err());
        assert_eq!(cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(cidr(" 127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert!(cidr("10.0.0.0/33").is_err());
        assert_eq!(trusted_proxies("").unwrap(), TrustedProxies::default());
        assert_eq!(trusted_proxies("10.0.0.0/8, ::1").unwrap().0.len(), 2);
    }
}
