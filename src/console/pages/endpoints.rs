//! Webhook endpoints: recent attempts, failure streak, disabled reason; and
//! Enable, Disable, Replay failed (the same functions as the CLI's).

use super::{Done, when};
use crate::console::{ConsoleState, CsrfForm, Failure, SignedIn, render};
use crate::store::webhook_deliveries::{self, AttemptOutcome, EndpointAttempt};
use crate::webhooks::endpoints::{self, EndpointError};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
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
    outcome: AttemptOutcome,
    code: String,
    latency_ms: i32,
    error: String,
    class: &'static str,
}

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let pool = &state.0.pool;
    let mut views = Vec::new();
    for e in endpoints::list(pool).await.map_err(Failure::internal)? {
        let health = webhook_deliveries::health(pool, e.id).await?;
        let rows = webhook_deliveries::recent_attempts(pool, e.id, RECENT).await?;
        let (state_word, class) = match (e.enabled, health.failing_since) {
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
            failing_since: health.failing_since.map(when),
            streak: health.streak,
            failed: health.failed,
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

fn attempt(a: EndpointAttempt) -> AttemptView {
    AttemptView {
        at: when(a.attempted_at),
        event_type: a.event_type,
        attempt: a.attempt,
        class: match a.outcome {
            AttemptOutcome::Delivered => "",
            AttemptOutcome::Retry | AttemptOutcome::Failed => "bad",
        },
        outcome: a.outcome,
        code: a
            .status_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "—".into()),
        latency_ms: a.latency_ms,
        error: a.error.unwrap_or_default(),
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
