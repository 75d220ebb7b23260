//! Webhook endpoints: recent attempts, failure streak, disabled reason; and
//! Enable, Disable, Replay failed (the same functions as the CLI's).

use super::{Done, when};
use crate::console::{ConsoleState, CsrfForm, Failure, SignedIn, render};
use crate::webhooks::endpoints::{self, EndpointError};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// Attempts shown per endpoint.
const RECENT: i64 = 10;

#[derive(Serialize)]
struct EndpointView {
    id: Uuid,
    url: String,
    events: String,
    enabled: bool,
    state: &'static str,
    class: &'static str,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
    streak: i64,
    failed: i64,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct AttemptView {
    at: String,
    event_type: String,
    attempt: i32,
    outcome: String,
    code: String,
    latency_ms: i32,
    error: String,
    class: &'static str,
}

type AttemptRow = (
    DateTime<Utc>,
    String,
    i32,
    String,
    Option<i32>,
    i32,
    Option<String>,
);

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let pool = &state.0.pool;
    let mut views = Vec::new();
    for e in endpoints::list(pool).await.map_err(Failure::internal)? {
        let (failing_since, streak, failed): (Option<DateTime<Utc>>, i64, i64) = sqlx::query_as(
            "SELECT (SELECT failing_since FROM webhook_endpoints WHERE id = $1),
                    (SELECT count(*) FROM webhook_attempts
                     WHERE endpoint_id = $1 AND outcome <> 'delivered'
                       AND attempted_at > COALESCE((SELECT max(attempted_at) FROM webhook_attempts
                                                    WHERE endpoint_id = $1 AND outcome = 'delivered'), '-infinity')),
                    (SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'failed')",
        )
        .bind(e.id)
        .fetch_one(pool)
        .await?;
        let rows: Vec<AttemptRow> = sqlx::query_as(
            "SELECT a.attempted_at, d.event_type, a.attempt, a.outcome, a.status_code, a.latency_ms, a.error
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id
             WHERE a.endpoint_id = $1 ORDER BY a.attempted_at DESC LIMIT $2",
        )
        .bind(e.id)
        .bind(RECENT)
        .fetch_all(pool)
        .await?;
        let (state_word, class) = match (e.enabled, failing_since) {
            (false, _) => ("disabled", "bad"),
            (true, Some(_)) => ("failing", "warn"),
            (true, None) => ("enabled", "ok"),
        };
        views.push(EndpointView {
            id: e.id,
            url: e.url,
            events: if e.event_types.is_empty() {
                "all".into()
            } else {
                e.event_types.join(", ")
            },
            enabled: e.enabled,
            state: state_word,
            class,
            disabled_reason: e.disabled_reason,
            failing_since: failing_since.map(when),
            streak,
            failed,
            attempts: rows.into_iter().map(attempt).collect(),
        });
    }
    state.render(
        "endpoints",
        "Webhook endpoints",
        Some(&session),
        &json!({"endpoints": views, "notice": render::notice(done.done.as_deref())}),
    )
}

fn attempt((at, event_type, attempt, outcome, code, latency_ms, error): AttemptRow) -> AttemptView {
    AttemptView {
        at: when(at),
        event_type,
        attempt,
        class: if outcome == "delivered" { "" } else { "bad" },
        outcome,
        code: code.map(|c| c.to_string()).unwrap_or_else(|| "—".into()),
        latency_ms,
        error: error.unwrap_or_default(),
    }
}

/// Enable, disable or replay one endpoint, then back to the list.
pub async fn act(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    state.check_csrf(&session, &form.csrf)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| Failure::not_found("no such endpoint"))?;
    let pool = &state.0.pool;
    let done = match action.as_str() {
        "enable" => endpoints::enable(pool, id).await.map(|()| "enabled"),
        "disable" => endpoints::disable(pool, id, "disabled from the console")
            .await
            .map(|()| "disabled"),
        "replay" => endpoints::replay(pool, Some(id), None)
            .await
            .map(|n| if n == 0 { "replayed-none" } else { "replayed" }),
        _ => return Err(Failure::not_found("no such action")),
    };
    let done = done.map_err(|e| match e {
        EndpointError::NotFound(_) => Failure::not_found("no such endpoint"),
        e => Failure::internal(e),
    })?;
    tracing::info!(endpoint = %id, action, "console action");
    Ok(Redirect::to(&format!(
        "/console/endpoints?done={done}#endpoint-{id}"
    )))
}
