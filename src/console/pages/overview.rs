//! The last hour at a glance, and the state of every service Herald needs.

use super::Done;
use crate::console::{ConsoleState, Failure, SignedIn, render};
use axum::extract::{Query, State};
use axum::response::Html;
use serde::Serialize;
use serde_json::json;

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
    let services = super::services::read(&state, pool).await?;
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
