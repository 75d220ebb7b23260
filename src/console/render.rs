//! The console's templates, compiled into the binary. Handlebars escapes
//! every `{{value}}` for HTML; the only triple-stash is the layout's `body`,
//! itself a page rendered with escaping.

use super::{ConsoleState, Failure, Session};
use axum::response::Html;
use handlebars::Handlebars;
use serde::Serialize;
use serde_json::json;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("templates/layout.hbs")),
    ("sign_in", include_str!("templates/sign_in.hbs")),
    ("overview", include_str!("templates/overview.hbs")),
    ("endpoints", include_str!("templates/endpoints.hbs")),
    ("dead_letters", include_str!("templates/dead_letters.hbs")),
    ("email_table", include_str!("templates/email_table.hbs")),
    ("emails", include_str!("templates/emails.hbs")),
    ("search", include_str!("templates/search.hbs")),
    ("event", include_str!("templates/event.hbs")),
];

pub struct Pages(Handlebars<'static>);

impl Pages {
    pub fn new() -> Self {
        let mut hb = Handlebars::new();
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, *text)
                .unwrap_or_else(|e| panic!("console template {name}: {e}"));
        }
        Self(hb)
    }
}

impl ConsoleState {
    /// A page inside the layout; `session` adds the navigation and the
    /// sign-out form (with its CSRF token).
    pub(super) fn render(
        &self,
        page: &str,
        title: &str,
        session: Option<&Session>,
        data: &impl Serialize,
    ) -> Result<Html<String>, Failure> {
        let csrf = session.map(|s| self.csrf(s));
        let mut data = serde_json::to_value(data).map_err(Failure::internal)?;
        if let Some(map) = data.as_object_mut() {
            map.insert("csrf".into(), json!(csrf));
        }
        let hb = &self.0.pages.0;
        let body = hb.render(page, &data).map_err(Failure::internal)?;
        let html = hb
            .render(
                "layout",
                &json!({"title": title, "csrf": csrf, "body": body, "signed_in": session.is_some()}),
            )
            .map_err(Failure::internal)?;
        Ok(Html(html))
    }
}

/// A notice shown after an action, chosen from fixed words by a code in
/// the redirect (`?done=…`): a link cannot make the console say anything.
pub fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "enabled" => "Endpoint enabled.",
        "disabled" => "Endpoint disabled.",
        "replayed" => "Failed deliveries queued again.",
        "replayed-none" => "No failed deliveries to replay.",
        "dead-letter-replayed" => "Dead letter replayed.",
        "dead-letters-replayed" => "Dead letters replayed.",
        "dead-letters-none" => "No dead letters to replay.",
        "resent" => "Email queued again.",
        _ => return None,
    })
}
