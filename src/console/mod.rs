//! `/console`: the operator console, served by `herald run` on the HTTP
//! listener. Server-rendered HTML (Handlebars templates compiled into the
//! binary, every value escaped), a small stylesheet and no JavaScript.
//!
//! Sign-in takes the API token once (throttled like the token routes) and
//! answers with a signed, expiring session cookie ([`session`]); every form
//! that changes something carries a per-session CSRF token ([`csrf`]). No
//! token, endpoint secret or sealed value is ever rendered.
//!
//! The console calls down into `http` (token, throttle), `webhooks`,
//! `intake` and `store`; nothing there calls it. `app` mounts it.

mod csrf;
mod failure;
mod pages;
mod render;
mod session;
mod sign_in;

use crate::http::auth::ApiToken;
use crate::http::throttle::Throttle;
use crate::intake::BrokerStatus;
use crate::settings::{Broker, Settings, TrustedProxies};
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
pub use failure::Failure;
use session::{Session, Sessions};
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

struct Inner {
    pool: PgPool,
    broker_status: BrokerStatus,
    /// Where the dead letters are, for their page.
    broker: Broker,
    token: ApiToken,
    sessions: Sessions,
    throttle: Throttle,
    trusted_proxies: TrustedProxies,
    pages: render::Pages,
    /// What a resend's handlers need.
    resend: crate::events::Context,
}

impl ConsoleState {
    /// Needs `HERALD_SECRET_KEY`, as `run` does: sessions are signed with a
    /// key derived from it, and a resend seals its email's token with it.
    pub fn new(
        pool: PgPool,
        settings: &Settings,
        broker_status: BrokerStatus,
    ) -> anyhow::Result<Self> {
        let resend = crate::ops::resend::context(
            &settings.lifetimes,
            &settings.keys,
            settings.email_rate_limit,
        )?;
        Ok(Self(Arc::new(Inner {
            pool,
            broker_status,
            broker: settings.broker.clone(),
            token: ApiToken::new(settings.api_token.as_deref()),
            sessions: Sessions::new(resend.key.subkey("console.session")),
            throttle: Throttle::new(20, Duration::from_secs(60)),
            trusted_proxies: settings.trusted_proxies.clone(),
            pages: render::Pages::new(),
            resend,
        })))
    }

    /// The CSRF token of a session, for its forms.
    fn csrf(&self, session: &Session) -> String {
        csrf::token(self.0.sessions.key(), session)
    }

    /// Refuses a form whose CSRF token is not the session's.
    fn check_csrf(&self, session: &Session, given: &str) -> Result<(), Failure> {
        if csrf::check(self.0.sessions.key(), session, given) {
            Ok(())
        } else {
            Err(Failure::forbidden(
                "this form is stale or was not sent by the console; reload the page and try again",
            ))
        }
    }
}

/// A request from a signed-in operator; anyone else is sent to sign in.
pub struct SignedIn(pub Session);

impl FromRequestParts<ConsoleState> for SignedIn {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Failure> {
        session::from_headers(&parts.headers)
            .and_then(|value| state.0.sessions.open(value))
            .map(SignedIn)
            .ok_or(Failure::SignIn)
    }
}

/// Every field a state-changing form sends besides its own.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

const STYLE: &str = include_str!("templates/style.css");

pub fn router(state: ConsoleState) -> Router {
    Router::new()
        .route("/console", get(pages::overview::show))
        .route(
            "/console/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", post(sign_in::sign_out))
        .route("/console/endpoints", get(pages::endpoints::show))
        .route(
            "/console/endpoints/{id}/{action}",
            post(pages::endpoints::act),
        )
        .route("/console/emails", get(pages::emails::show))
        .route("/console/emails/{id}/resend", post(pages::event::resend))
        .route("/console/search", get(pages::search::show))
        .route("/console/events/{id}", get(pages::event::show))
        .route("/console/dead-letters", get(pages::dead_letters::show))
        .route(
            "/console/dead-letters/replay",
            post(pages::dead_letters::replay),
        )
        .layer(DefaultBodyLimit::max(crate::http::MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(guard_headers))
        .with_state(state)
}

/// No page is cached, framed, sniffed, or allowed a script or a foreign
/// resource: an escaping mistake still could not run anything.
async fn guard_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
