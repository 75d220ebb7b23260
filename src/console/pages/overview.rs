//! The last hour at a glance, and the state of every service Herald needs.

use super::{Done, when};
use crate::console::{ConsoleState, Failure, SignedIn, render};
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Serialize, sqlx::FromRow)]
struct EventRow {
    event_type: String,
    outcome: String,
    count: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct Emails {
    sent: i64,
    failed: i64,
    waiting: i64,
}

#[derive(Serialize, sqlx::FromRow)]
struct Webhooks {
    delivered: i64,
    failing: i64,
    waiting: i64,
}

#[derive(Serialize)]
struct Service {
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

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let pool = &state.0.pool;
    // An event's outcome is what became of the email it caused, if any.
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT p.event_type, COALESCE('email ' || e.status, 'no email') AS outcome,
                count(DISTINCT p.event_id) AS count
         FROM processed_events p LEFT JOIN email_outbox e ON e.event_id = p.event_id
         WHERE p.processed_at > now() - interval '1 hour'
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    let emails: Emails = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'sent') AS sent,
                count(*) FILTER (WHERE status NOT IN ('sent', 'pending')) AS failed,
                count(*) FILTER (WHERE status = 'pending') AS waiting
         FROM email_outbox WHERE status = 'pending' OR finished_at > now() - interval '1 hour'",
    )
    .fetch_one(pool)
    .await?;
    let webhooks: Webhooks = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'delivered') AS delivered,
                count(*) FILTER (WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)) AS failing,
                count(*) FILTER (WHERE status = 'pending' AND attempts = 0) AS waiting
         FROM webhook_deliveries WHERE status = 'pending' OR finished_at > now() - interval '1 hour'",
    )
    .fetch_one(pool)
    .await?;
    let dead_letters = match super::dead_letters::waiting(&state.0.broker).await {
        Ok(n) => n.to_string(),
        Err(e) => format!("unknown ({e})"),
    };
    let services = services(&state, pool).await?;
    state.render(
        "overview",
        "Overview",
        Some(&session),
        &json!({
            "notice": render::notice(done.done.as_deref()),
            "events": events, "emails": emails, "webhooks": webhooks,
            "dead_letters": dead_letters, "services": services,
        }),
    )
}

/// What `/readyz` reads (a query, the consumer's own session), the relay's
/// last answer, and each endpoint.
async fn services(state: &ConsoleState, pool: &PgPool) -> Result<Vec<Service>, Failure> {
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
    let endpoints: Vec<(String, bool, Option<String>, Option<chrono::DateTime<chrono::Utc>>)> =
        sqlx::query_as(
            "SELECT url, enabled, disabled_reason, failing_since FROM webhook_endpoints ORDER BY created_at, id",
        )
        .fetch_all(pool)
        .await?;
    for (url, enabled, reason, failing_since) in endpoints {
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
    let last: Option<(
        String,
        Option<i32>,
        Option<String>,
        chrono::DateTime<chrono::Utc>,
    )> = sqlx::query_as(
        "SELECT outcome, smtp_code, detail, attempted_at FROM email_attempts
             ORDER BY attempted_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    let state = match last {
        None => Ok("no email attempted yet".to_owned()),
        Some((outcome, code, detail, at)) => {
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
