//! One file per console page: what it reads, and the actions it offers.

pub mod dead_letters;
pub mod emails;
pub mod endpoints;
pub mod event;
pub mod overview;
pub mod search;
pub mod services;

use crate::store::email_outbox::{Email, EmailStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

/// `?done=…` after an action: which fixed notice to show.
#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

/// Times as UTC to the second: `2026-12-02 01:02:03Z`.
pub fn when(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
        .replacen('T', " ", 1)
}

/// An event id as a path segment: ids are the publisher's, any text.
pub fn event_href(id: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC);
    format!("/console/events/{encoded}")
}

/// An email as a row of the console's email tables.
#[derive(serde::Serialize)]
pub struct EmailRow {
    id: uuid::Uuid,
    created: String,
    recipient: String,
    template: String,
    status: EmailStatus,
    class: &'static str,
    attempts: i32,
    last_error: String,
    event_id: String,
    event_href: String,
}

impl From<Email> for EmailRow {
    fn from(e: Email) -> Self {
        Self {
            id: e.id,
            created: when(e.created_at),
            class: match e.status {
                EmailStatus::Sent => "ok",
                EmailStatus::Pending => "warn",
                EmailStatus::Failed | EmailStatus::Dropped | EmailStatus::Expired => "bad",
            },
            recipient: e.recipient,
            template: e.template,
            status: e.status,
            attempts: e.attempt_count,
            last_error: e.last_error.unwrap_or_default(),
            event_href: event_href(&e.event_id),
            event_id: e.event_id,
        }
    }
}
