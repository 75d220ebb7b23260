//! `/console/search?q=…`: an event id leads straight to its delivery log;
//! an email address lists that person's events and emails.

use super::{Done, EmailRow, event_href, when};
use crate::console::{ConsoleState, Failure, SignedIn, render};
use crate::store::delivery_log::{self, EventFilter};
use crate::store::email_outbox::read::{self, Filter};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

const SHOWN: i64 = 100;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Serialize)]
struct EventRow {
    id: String,
    href: String,
    event_type: String,
    time: String,
}

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(search): Query<SearchQuery>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    let q = search.q.trim();
    let pool = &state.0.pool;
    if !q.is_empty() && !q.contains('@') && delivery_log::for_event(pool, q).await?.is_some() {
        return Ok(Redirect::to(&event_href(q)).into_response());
    }
    let (events, emails) = if q.contains('@') {
        let filter = EventFilter {
            email: Some(q.to_owned()),
            limit: SHOWN,
            ..Default::default()
        };
        let (events, _) = delivery_log::events(pool, &filter).await?;
        let filter = Filter {
            recipient: Some(q.to_owned()),
            limit: SHOWN,
            ..Default::default()
        };
        let (emails, _) = read::list(pool, &filter).await?;
        (events, emails)
    } else {
        (Vec::new(), Vec::new())
    };
    let events: Vec<EventRow> = events
        .into_iter()
        .map(|e| EventRow {
            href: event_href(&e.id),
            id: e.id,
            event_type: e.event_type,
            time: when(e.time),
        })
        .collect();
    let emails: Vec<EmailRow> = emails.into_iter().map(EmailRow::from).collect();
    let page = state.render(
        "search",
        "Search",
        Some(&session),
        &json!({
            "notice": render::notice(done.done.as_deref()),
            "q": q,
            "asked": !q.is_empty(),
            "found": !events.is_empty() || !emails.is_empty(),
            "events": events,
            "emails": emails,
        }),
    )?;
    Ok(page.into_response())
}
