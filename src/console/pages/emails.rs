//! Emails, newest first, filtered by status and template
//! (`store::emails::list`, as `GET /v1/emails`).

use super::EmailRow;
use crate::console::{ConsoleState, Failure, SignedIn};
use crate::email::templates::KINDS;
use crate::store::emails::{self, Filter, STATUSES};
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

fn choices(all: &[&'static str], chosen: Option<&str>) -> Vec<Choice> {
    all.iter()
        .map(|&value| Choice {
            value,
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
    let status = q.status.filter(|s| STATUSES.contains(&s.as_str()));
    let template = q.template.filter(|t| KINDS.contains(&t.as_str()));
    let offset = q.offset.unwrap_or(0).max(0);
    let filter = Filter {
        recipient: None,
        status: status.clone(),
        template: template.clone(),
        limit: PAGE,
        offset,
    };
    let (found, count) = emails::list(&state.0.pool, &filter).await?;
    let rows: Vec<EmailRow> = found.into_iter().map(EmailRow::from).collect();
    let next = (offset + PAGE < count).then(|| {
        let mut query = format!("offset={}", offset + PAGE);
        for (name, value) in [("status", &status), ("template", &template)] {
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
            "statuses": choices(&STATUSES, status.as_deref()),
            "templates": choices(&KINDS, template.as_deref()),
            "emails": rows,
            "count": count,
            "from": if count == 0 { 0 } else { offset + 1 },
            "to": (offset + PAGE).min(count),
            "next": next,
        }),
    )
}
