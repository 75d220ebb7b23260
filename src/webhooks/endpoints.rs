//! Endpoint management, shared by the CLI and (later) the HTTP API: plain
//! functions over the pool with typed results.

use super::signing::Secret;
use super::ssrf;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("{0}; set HERALD_WEBHOOK_ALLOW_PRIVATE to allow it")]
    PrivateTarget(String),
    #[error("invalid secret: {0}")]
    InvalidSecret(String),
    #[error("invalid event type {0:?}")]
    InvalidEventType(String),
    #[error("no webhook endpoint {0}")]
    NotFound(Uuid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What `add` needs; `secret` is generated when absent.
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub event_types: Vec<String>,
    pub secret: Option<&'a str>,
    pub allow_private: bool,
}

#[derive(Debug, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    #[sqlx(try_from = "String")]
    pub secret: StoredSecret,
}

/// A secret read back from the database: only its masked form is shown.
#[derive(Debug)]
pub struct StoredSecret(pub Secret);

impl TryFrom<String> for StoredSecret {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Secret::parse(&text).map(StoredSecret)
    }
}

pub async fn create(pool: &PgPool, new: NewEndpoint<'_>) -> Result<(Uuid, Secret), EndpointError> {
    let url = check_url(new.url, new.allow_private)?;
    let secret = match new.secret {
        Some(text) => Secret::parse(text).map_err(EndpointError::InvalidSecret)?,
        None => Secret::generate(),
    };
    let mut types: Vec<String> = Vec::new();
    for t in new.event_types {
        let t = t.trim().to_owned();
        if t.is_empty() || t.len() > 255 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EndpointError::InvalidEventType(t));
        }
        if !types.contains(&t) {
            types.push(t);
        }
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(url.as_str())
    .bind(secret.expose())
    .bind(&types)
    .execute(pool)
    .await?;
    Ok((id, secret))
}

pub async fn list(pool: &PgPool) -> Result<Vec<Endpoint>, EndpointError> {
    Ok(sqlx::query_as(
        "SELECT id, url, event_types, enabled, disabled_reason, created_at, secret
         FROM webhook_endpoints ORDER BY created_at, id",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Endpoint, EndpointError> {
    sqlx::query_as(
        "SELECT id, url, event_types, enabled, disabled_reason, created_at, secret
         FROM webhook_endpoints WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(EndpointError::NotFound(id))
}

/// Removes the endpoint with its deliveries and attempts.
pub async fn remove(pool: &PgPool, id: Uuid) -> Result<(), EndpointError> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    found(done.rows_affected(), id)
}

/// Enabling starts a fresh failure window, so a long outage that disabled it
/// does not disable it again on the first failure.
pub async fn enable(pool: &PgPool, id: Uuid) -> Result<(), EndpointError> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints
         SET enabled = true, disabled_reason = NULL, disabled_at = NULL, failing_since = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    found(done.rows_affected(), id)
}

pub async fn disable(pool: &PgPool, id: Uuid, reason: &str) -> Result<(), EndpointError> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints
         SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(pool)
    .await?;
    found(done.rows_affected(), id)
}

/// Puts failed deliveries back in the queue (same `webhook-id`, a fresh
/// retry schedule), optionally only one endpoint's or only recent ones.
pub async fn replay(
    pool: &PgPool,
    endpoint: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> Result<u64, EndpointError> {
    if let Some(id) = endpoint {
        get(pool, id).await?;
    }
    let done = sqlx::query(
        "UPDATE webhook_deliveries
         SET status = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL, finished_at = NULL
         WHERE status = 'failed'
           AND ($1::uuid IS NULL OR endpoint_id = $1)
           AND ($2::timestamptz IS NULL OR created_at >= $2)",
    )
    .bind(endpoint)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Makes pending deliveries waiting for a later retry due now (an operator
/// fixed the receiver or a setting); their attempt count stays. A delivery
/// in flight (leased) is left to finish.
pub async fn bring_forward(
    pool: &PgPool,
    endpoint: Option<Uuid>,
    since: Option<DateTime<Utc>>,
) -> Result<u64, EndpointError> {
    if let Some(id) = endpoint {
        get(pool, id).await?;
    }
    let done = sqlx::query(
        "UPDATE webhook_deliveries
         SET next_attempt_at = now()
         WHERE status = 'pending' AND next_attempt_at > now()
           AND (lease_until IS NULL OR lease_until <= now())
           AND ($1::uuid IS NULL OR endpoint_id = $1)
           AND ($2::timestamptz IS NULL OR created_at >= $2)",
    )
    .bind(endpoint)
    .bind(since)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

fn found(rows: u64, id: Uuid) -> Result<(), EndpointError> {
    if rows == 0 {
        Err(EndpointError::NotFound(id))
    } else {
        Ok(())
    }
}

/// An absolute http(s) URL without credentials, and not an obviously
/// private target unless allowed.
fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, EndpointError> {
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|e| EndpointError::InvalidUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(EndpointError::InvalidUrl(
            "expected http:// or https://".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(EndpointError::InvalidUrl("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EndpointError::InvalidUrl(
            "credentials in the URL are not supported: receivers verify the signature".into(),
        ));
    }
    if !allow_private && let Some(why) = ssrf::refuse_host(&url) {
        return Err(EndpointError::PrivateTarget(why));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_urls() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(matches!(
            check_url("ftp://example.com", false),
            Err(EndpointError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("example.com", false),
            Err(EndpointError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("https://u:p@example.com", false),
            Err(EndpointError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("http://10.0.0.1/hook", false),
            Err(EndpointError::PrivateTarget(_))
        ));
        assert!(check_url("http://localhost:9000/hook", true).is_ok());
    }
}
