//! Endpoint management, shared by the CLI and the HTTP API: plain
//! functions over the pool with typed results. Secrets are sealed under
//! `HERALD_SECRET_KEY` (the endpoint id as associated data) before they reach
//! the database, and shown only in the answer that creates them.

use super::signing::Secret;
use super::ssrf;
use crate::store::webhook_deliveries;
use crate::store::{Place, SecretKey};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
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
    #[error("invalid grace period: {0}")]
    InvalidGrace(String),
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
    /// While a rotation's grace period lasts: when the old secret stops
    /// signing.
    pub previous_secret_until: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, url, event_types, enabled, disabled_reason, created_at,
    CASE WHEN previous_secret_until > now() THEN previous_secret_until END AS previous_secret_until";

pub async fn create(
    pool: &PgPool,
    key: &SecretKey,
    new: NewEndpoint<'_>,
) -> Result<(Uuid, Secret), EndpointError> {
    let url = check_url(new.url, new.allow_private)?;
    let secret = match new.secret {
        Some(text) => Secret::parse(text).map_err(EndpointError::InvalidSecret)?,
        None => Secret::generate(),
    };
    let mut types: Vec<String> = Vec::new();
    for t in new.event_types {
        if !is_event_type(&t) {
            return Err(EndpointError::InvalidEventType(t));
        }
        if !types.contains(&t) {
            types.push(t);
        }
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, url, secret_sealed, event_types) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(url.as_str())
    .bind(seal(key, id, &secret))
    .bind(&types)
    .execute(pool)
    .await?;
    Ok((id, secret))
}

fn seal(key: &SecretKey, id: Uuid, secret: &Secret) -> Vec<u8> {
    key.seal(secret.expose().as_bytes(), &Place::Endpoint { id })
}

/// Opens a sealed endpoint secret.
pub fn open(key: &SecretKey, id: Uuid, sealed: &[u8]) -> Result<Secret, String> {
    let (_, plain) = key
        .open(sealed, &Place::Endpoint { id })
        .map_err(|e| e.to_string())?;
    Secret::parse(&String::from_utf8_lossy(&plain))
}

pub async fn list(pool: &PgPool) -> Result<Vec<Endpoint>, EndpointError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?)
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Endpoint, EndpointError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(EndpointError::NotFound(id))
}

/// A new secret for the endpoint, returned this once. For `grace` the old
/// one signs too (both signatures in `webhook-signature`), so receivers can
/// switch without missing a message; a zero grace drops it at once.
pub async fn rotate_secret(
    pool: &PgPool,
    key: &SecretKey,
    id: Uuid,
    grace: Duration,
) -> Result<Secret, EndpointError> {
    let secret = Secret::generate();
    let grace = chrono::Duration::from_std(grace)
        .map_err(|_| EndpointError::InvalidGrace("too long".into()))?;
    let done = sqlx::query(
        "UPDATE webhook_endpoints
         SET previous_secret_sealed = CASE WHEN $3 > now() THEN secret_sealed END,
             previous_secret_until = CASE WHEN $3 > now() THEN $3 END,
             secret_sealed = $2, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(seal(key, id, &secret))
    .bind(Utc::now() + grace)
    .execute(pool)
    .await?;
    found(done.rows_affected(), id)?;
    Ok(secret)
}

/// Seals the secrets stored in clear before they were sealed at rest, and
/// erases the clear ones. Run at every start-up and `herald migrate` (a SQL
/// migration cannot seal); finds nothing to do once done.
pub async fn seal_clear_secrets(pool: &PgPool, key: &SecretKey) -> Result<u64, EndpointError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, secret FROM webhook_endpoints WHERE secret IS NOT NULL FOR UPDATE",
    )
    .fetch_all(&mut *tx)
    .await?;
    for (id, text) in &rows {
        let secret = Secret::parse(text).map_err(EndpointError::InvalidSecret)?;
        sqlx::query("UPDATE webhook_endpoints SET secret_sealed = $2, secret = NULL WHERE id = $1")
            .bind(id)
            .bind(seal(key, *id, &secret))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
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
    let mut tx = pool.begin().await?;
    if disable_in(&mut tx, id, reason).await? {
        tx.commit().await?;
        return Ok(());
    }
    // Unknown, or disabled already: only its reason changes.
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET disabled_reason = $2, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    found(done.rows_affected(), id)
}

/// Disables an enabled endpoint in the caller's transaction and announces
/// `webhook.endpoint.disabled` with it; false (nothing changed) when it is
/// unknown or disabled already.
pub async fn disable_in(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    reason: &str,
) -> sqlx::Result<bool> {
    let disabled = sqlx::query(
        "UPDATE webhook_endpoints
         SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
         WHERE id = $1 AND enabled",
    )
    .bind(id)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    if disabled.rows_affected() == 0 {
        return Ok(false);
    }
    let disabled = crate::store::Announcement {
        event_type: "webhook.endpoint.disabled",
        data: serde_json::json!({"id": id, "reason": reason, "disabled_at": chrono::Utc::now()}),
    };
    crate::store::announce(conn, &[disabled]).await?;
    Ok(true)
}

/// A delivery cleared these endpoints' failure streaks.
pub async fn clear_failing(conn: &mut sqlx::PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = NULL
         WHERE id = ANY($1) AND failing_since IS NOT NULL",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Each endpoint is failing since `since` unless it already was; returns
/// since when each is failing.
pub async fn mark_failing(
    conn: &mut sqlx::PgConnection,
    failing: &[(Uuid, DateTime<Utc>)],
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let (ids, since): (Vec<Uuid>, Vec<DateTime<Utc>>) = failing.iter().copied().unzip();
    sqlx::query_as(
        "UPDATE webhook_endpoints e SET failing_since = coalesce(e.failing_since, f.since)
         FROM unnest($1::uuid[], $2::timestamptz[]) AS f(id, since)
         WHERE e.id = f.id RETURNING e.id, e.failing_since",
    )
    .bind(&ids)
    .bind(&since)
    .fetch_all(conn)
    .await
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
    Ok(webhook_deliveries::replay(pool, endpoint, since).await?)
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
    Ok(webhook_deliveries::bring_forward(pool, endpoint, since).await?)
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
/// What the API's schema promises for a subscribed type: 1 to 255 of
/// `A-Z a-z 0-9 . _ -` (`invite.created`), checked the same way here.
pub const EVENT_TYPE_PATTERN: &str = "^[A-Za-z0-9._-]{1,255}$";

fn is_event_type(t: &str) -> bool {
    (1..=255).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The longest URL an endpoint may have, as the API's schema says.
pub const MAX_URL_LEN: usize = 2048;

fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, EndpointError> {
    if raw.len() > MAX_URL_LEN {
        return Err(EndpointError::InvalidUrl(format!(
            "longer than {MAX_URL_LEN} characters"
        )));
    }
    if !super::url_shape::matches(raw) {
        return Err(EndpointError::InvalidUrl(
            "expected http(s)://host[:port][/path], the host a name or an IPv4 address, \
             in ASCII without spaces (percent-encode the rest)"
                .into(),
        ));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| EndpointError::InvalidUrl(e.to_string()))?;
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
