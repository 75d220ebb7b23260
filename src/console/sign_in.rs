//! Sign-in with the API token, posted once; sign-out.

use super::{ConsoleState, CsrfForm, Failure, SignedIn, session};
use crate::http::throttle::{self, end_user};
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Instant;

pub async fn form(State(state): State<ConsoleState>) -> Result<Response, Failure> {
    page(&state, StatusCode::OK, None)
}

fn page(
    state: &ConsoleState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Failure> {
    let disabled = state.0.token.matches("").is_none();
    let html = state.render(
        "sign_in",
        "Sign in",
        None,
        &json!({"error": error, "disabled": disabled}),
    )?;
    Ok((status, html).into_response())
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
}

/// A wrong token counts as a miss for the end user, as on the token routes;
/// every answer takes at least the same floor.
pub async fn submit(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, Failure> {
    let started = Instant::now();
    let answer = check(&state, peer, &headers, &form.token);
    tokio::time::sleep_until((started + throttle::FLOOR).into()).await;
    answer
}

fn check(
    state: &ConsoleState,
    peer: SocketAddr,
    headers: &HeaderMap,
    given: &str,
) -> Result<Response, Failure> {
    let client = end_user(peer.ip(), headers, &state.0.trusted_proxies);
    let reservation = match state.0.throttle.reserve(client) {
        Ok(r) => r,
        Err(refused) => return page(state, refused.status, Some(&refused.message)),
    };
    match state.0.token.matches(given) {
        None => {
            state.0.throttle.refund(reservation);
            page(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("the console is disabled: set HERALD_API_TOKEN"),
            )
        }
        Some(false) => {
            ::metrics::counter!("herald_api_token_misses_total").increment(1);
            page(state, StatusCode::UNAUTHORIZED, Some("wrong token"))
        }
        Some(true) => {
            state.0.throttle.refund(reservation);
            let (_, value) = state.0.sessions.issue();
            let cookie = session::set_cookie(Some(&value), over_tls(state, peer, headers));
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/console")).into_response())
        }
    }
}

pub async fn sign_out(
    State(state): State<ConsoleState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    SignedIn(session): SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<Response, Failure> {
    state.check_csrf(&session, &form.csrf)?;
    state.0.sessions.revoke(&session);
    let cookie = session::set_cookie(None, over_tls(&state, peer, &headers));
    Ok((
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/console/sign-in"),
    )
        .into_response())
}

/// Herald serves plain HTTP; TLS ends at a proxy. The cookie is `Secure`
/// when a trusted proxy says the browser came over HTTPS.
fn over_tls(state: &ConsoleState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    let peer = peer.ip().to_canonical();
    state
        .0
        .trusted_proxies
        .0
        .iter()
        .any(|net| net.contains(&peer))
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}
