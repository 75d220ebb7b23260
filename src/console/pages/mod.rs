//! One file per console page: what it reads, and the actions it offers.

pub mod dead_letters;
pub mod endpoints;
pub mod overview;

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
