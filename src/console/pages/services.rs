//! The state of every service Herald needs: PostgreSQL and RabbitMQ as
//! `/readyz` reads them, the SMTP relay as its last answer left it, and each
//! webhook endpoint.

use super::when;
use crate::console::{ConsoleState, Failure};
use crate::store::email_outbox::{EmailAttempt, read};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Serialize)]
pub struct Service {
    name: String,
    state: &'static str,
    class: &'static str,
    detail: String,
}

impl Service {
    fn new(name: impl Into<String>, ok: Result<String, String>) -> Self {
        let (state, class, detail) = match ok {
            Ok(detail) => ("ok", "ok", detail),
            Err(detail) => ("down", "bad", detail),
        };
        Self {
            name: name.into(),
            state,
            class,
            detail,
        }
    }
}

#[derive(sqlx::FromRow)]
struct EndpointState {
    url: String,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<DateTime<Utc>>,
}

/// What `/readyz` reads (a query, the consumer's own session), the relay's
/// last answer, and each endpoint.
pub async fn read(state: &ConsoleState, pool: &PgPool) -> Result<Vec<Service>, Failure> {
    let limit = Duration::from_secs(2);
    let postgres = match tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok("answering".to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 2 s".to_owned()),
    };
    let rabbitmq = state.0.broker_status.get().map(|()| "consuming".to_owned());
    let mut services = vec![
        Service::new("PostgreSQL", postgres),
        Service::new("RabbitMQ", rabbitmq),
        smtp(pool).await?,
    ];
    let endpoints: Vec<EndpointState> =
        sqlx::query_as(
            "SELECT url, enabled, disabled_reason, failing_since FROM webhook_endpoints ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await?;
    for EndpointState {
        url,
        enabled,
        disabled_reason: reason,
        failing_since,
    } in endpoints
    {
        let state = match (enabled, failing_since) {
            (false, _) => Err(format!("disabled: {}", reason.unwrap_or_default())),
            (true, Some(since)) => Err(format!("failing since {}", when(since))),
            (true, None) => Ok("enabled".to_owned()),
        };
        let mut service = Service::new(format!("Endpoint {url}"), state);
        if enabled {
            service.state = if service.class == "ok" {
                "ok"
            } else {
                "failing"
            };
        } else {
            service.state = "disabled";
        }
        services.push(service);
    }
    Ok(services)
}

/// The SMTP relay as the last email attempt found it.
async fn smtp(pool: &PgPool) -> Result<Service, Failure> {
    let state = match read::last_attempt(pool).await? {
        None => Ok("no email attempted yet".to_owned()),
        Some(EmailAttempt {
            outcome,
            smtp_code: code,
            reply: detail,
            at,
            ..
        }) => {
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            let text = format!(
                "last attempt {}: {outcome}{code} {}",
                when(at),
                detail.unwrap_or_default()
            );
            if outcome == "transient" {
                Err(text)
            } else {
                Ok(text)
            }
        }
    };
    Ok(Service::new("SMTP relay", state))
}
