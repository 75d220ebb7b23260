//! The last hour at a glance, and the state of every service Herald needs.

use super::Done;
use crate::console::{ConsoleState, Failure, SignedIn, render};
use crate::store::email_outbox::counts;
use crate::store::webhook_deliveries;
use axum::extract::{Query, State};
use axum::response::Html;
use serde_json::json;

pub async fn show(
    State(state): State<ConsoleState>,
    SignedIn(session): SignedIn,
    Query(done): Query<Done>,
) -> Result<Html<String>, Failure> {
    let pool = &state.0.pool;
    let events = counts::events_last_hour(pool).await?;
    let emails = counts::last_hour(pool).await?;
    let webhooks = webhook_deliveries::last_hour(pool).await?;
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
