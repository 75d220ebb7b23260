//! Emails, newest first, filtered by status and template
//! (`store::email_outbox::read::list`, as `GET /v1/emails`).

use super::EmailRow;
use crate::console::{ConsoleState, Failure, SignedIn};
use crate::store::email_outbox::read::{self, Filter};
use crate::store::email_outbox::{EmailStatus, EmailTemplate};
use axum::extract::{Query, State};
use axum::response::Html;
use serde::{Deserialize, Serialize};
use serde_json::json;

const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct EmailQuery {
    status: Option<String>,
    template: Option<String>,
    offset: Option<i64>,
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    selected: bool,
}

fn choices<T: PartialEq + Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    chosen: Option<T>,
) -> Vec<Choice> {
    all.iter()
        .map(|&value| Choice {
            value: name(value),
            selected: chosen == Some(value),
        })
        .collect()
}

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(q): Query<EmailQuery>,
) -> Result<Html<String>, Failure> {
    // Only known words filter; anything else (or "any") shows everything.
    let status = q.status.and_then(|s| s.parse::<EmailStatus>().ok());
    let template = q.template.and_then(|t| t.parse::<EmailTemplate>().ok());
    let offset = q.offset.unwrap_or(0).max(0);
    let filter = Filter {
        recipient: None,
        status,
        template,
        limit: PAGE,
        offset,
    };
    let (found, count) = read::list(&state.0.pool, &filter).await?;
    let rows: Vec<EmailRow> = found.into_iter().map(EmailRow::from).collect();
    let next = (offset + PAGE < count).then(|| {
        let mut query = format!("offset={}", offset + PAGE);
        let chosen = [
            ("status", status.map(EmailStatus::as_str)),
            ("template", template.map(EmailTemplate::as_str)),
        ];
        for (name, value) in chosen {
            if let Some(v) = value {
                query.push_str(&format!("&{name}={v}"));
            }
        }
        format!("/console/emails?{query}")
    });
    state.render(
        "emails",
        "Emails",
        Some(&session),
        &json!({
            "statuses": choices(EmailStatus::ALL, EmailStatus::as_str, status),
            "templates": choices(EmailTemplate::ALL, EmailTemplate::as_str, template),
            "emails": rows,
            "count": count,
            "from": if count == 0 { 0 } else { offset + 1 },
            "to": (offset + PAGE).min(count),
            "next": next,
        }),
    )
}
