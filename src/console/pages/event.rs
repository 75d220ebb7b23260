//! One event's delivery log: each email and webhook delivery with every
//! attempt (SMTP replies, response codes), and Resend for emails
//! (`ops::resend`, as `POST /v1/emails/{id}/resend`).

use super::{Done, EmailRow, when};
use crate::console::{ConsoleState, CsrfForm, Failure, SignedIn, render};
use crate::ops::resend::{self, ResendError};
use crate::store::delivery_log;
use crate::store::webhook_deliveries::{AttemptOutcome, DeliveryStatus};
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Serialize)]
struct EmailView {
    #[serde(flatten)]
    row: EmailRow,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct DeliveryView {
    endpoint_url: String,
    status: DeliveryStatus,
    class: &'static str,
    last_error: String,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct AttemptView {
    at: String,
    attempt: i32,
    outcome: String,
    code: String,
    detail: String,
    class: &'static str,
}

fn code(c: Option<i32>) -> String {
    c.map(|c| c.to_string()).unwrap_or_else(|| "—".into())
}

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let log = delivery_log::for_event(&state.0.pool, &id)
        .await?
        .ok_or_else(|| Failure::not_found("Herald has not processed an event with this id"))?;
    let emails: Vec<EmailView> = log
        .emails
        .into_iter()
        .map(|e| EmailView {
            attempts: e
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: when(a.at),
                    attempt: a.attempt,
                    class: if a.outcome == "sent" { "" } else { "bad" },
                    outcome: a.outcome,
                    code: code(a.smtp_code),
                    detail: a.reply.unwrap_or_default(),
                })
                .collect(),
            row: e.email.into(),
        })
        .collect();
    let webhooks: Vec<DeliveryView> = log
        .webhooks
        .into_iter()
        .map(|d| DeliveryView {
            endpoint_url: d.endpoint_url,
            class: match d.status {
                DeliveryStatus::Delivered => "ok",
                DeliveryStatus::Pending => "warn",
                DeliveryStatus::Failed => "bad",
            },
            status: d.status,
            last_error: d.last_error.unwrap_or_default(),
            attempts: d
                .attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: when(a.at),
                    attempt: a.attempt,
                    class: match a.outcome {
                        AttemptOutcome::Delivered => "",
                        AttemptOutcome::Retry | AttemptOutcome::Failed => "bad",
                    },
                    outcome: a.outcome.to_string(),
                    code: code(a.status_code),
                    detail: a
                        .error
                        .map(|e| format!("{e} ({} ms)", a.latency_ms))
                        .unwrap_or_else(|| format!("{} ms", a.latency_ms)),
                })
                .collect(),
        })
        .collect();
    state.render(
        "event",
        &format!("Event {}", log.event.event_type),
        Some(&session),
        &json!({
            "notice": render::notice(done.done.as_deref()),
            "event": {
                "id": log.event.id,
                "type": log.event.event_type,
                "time": when(log.event.time),
                "processed": when(log.event.processed_at),
            },
            "emails": emails,
            "webhooks": webhooks,
        }),
    )
}

/// The email again, as its kind's event would send it; then the person's
/// emails, where the new one is the first row.
pub async fn resend(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<Redirect, Failure> {
    state.check_csrf(&session, &form.csrf)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| Failure::not_found("no such email"))?;
    let email = resend::resend(&state.0.pool, &state.0.resend, id)
        .await
        .map_err(|e| match e {
            ResendError::NotFound(_) => Failure::not_found("no such email"),
            ResendError::Refused(why) => Failure::Refused(StatusCode::CONFLICT, why),
            e => Failure::internal(e),
        })?;
    tracing::info!(email = %id, new = %email.id, "console resend");
    let q =
        percent_encoding::utf8_percent_encode(&email.recipient, percent_encoding::NON_ALPHANUMERIC);
    Ok(Redirect::to(&format!(
        "/console/search?q={q}&done=resent#email-{}",
        email.id
    )))
}
