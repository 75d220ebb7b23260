//! The HTTP server inside `herald run`: health, readiness and metrics for
//! operators; `/v1` for the back end (tokens, invites, webhook endpoints),
//! with an OpenAPI document generated from the handlers.

pub mod auth;
mod emails;
pub mod error;
mod events;
mod health;
mod invites;
pub mod metrics;
pub mod openapi;
mod paging;
mod password_resets;
pub mod throttle;
mod webhook_endpoints;

use crate::settings::Settings;
use auth::ApiToken;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use error::ApiError;
use serde::Deserialize;
use sqlx::PgPool;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use throttle::Throttle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use paging::MAX_LIMIT;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// The consumer's connection state, for `/readyz`.
    pub broker: crate::intake::BrokerStatus,
    /// `HERALD_WEBHOOK_ALLOW_PRIVATE`, for endpoint registration.
    pub allow_private: bool,
    /// Seals webhook endpoint secrets; `run` refuses to start without it.
    key: Option<crate::store::SecretKey>,
    throttle: Arc<Throttle>,
    /// `HERALD_TRUSTED_PROXIES`: whose `X-Forwarded-For` names the end user.
    trusted_proxies: Arc<crate::settings::TrustedProxies>,
    /// What a resend's handlers need; `None` without HERALD_SECRET_KEY.
    resend: Option<crate::events::Context>,
}

impl AppState {
    pub fn new(pool: PgPool, settings: &Settings, broker: crate::intake::BrokerStatus) -> Self {
        Self {
            pool,
            broker,
            allow_private: settings.targets.webhook_allow_private,
            key: settings.keys.secret_key().ok(),
            throttle: Arc::new(Throttle::new(20, Duration::from_secs(60))),
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
            resend: crate::ops::resend::context(
                &settings.lifetimes,
                &settings.keys,
                settings.email_rate_limit,
            )
            .ok(),
        }
    }
}

impl AppState {
    fn key(&self) -> Result<&crate::store::SecretKey, ApiError> {
        self.key.as_ref().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "no_secret_key",
                "HERALD_SECRET_KEY is not set",
            )
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The token from the link.
    pub token: String,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = "Invite and password-reset tokens, and webhook endpoints."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// Every route. `/v1` sits behind the bearer token; the OpenAPI document
/// describing it is public.
pub fn router(state: AppState, api_token: Option<&str>) -> Router {
    let (v1, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(invites::validate))
        .routes(routes!(invites::accept))
        .routes(routes!(invites::list))
        .routes(routes!(invites::revoke))
        .routes(routes!(password_resets::consume))
        .routes(routes!(webhook_endpoints::create, webhook_endpoints::list))
        .routes(routes!(webhook_endpoints::get, webhook_endpoints::delete))
        .routes(routes!(webhook_endpoints::attempts))
        .routes(routes!(webhook_endpoints::rotate_secret))
        .routes(routes!(emails::list))
        .routes(routes!(emails::get))
        .routes(routes!(emails::resend))
        .routes(routes!(events::list))
        .routes(routes!(events::get))
        .with_state(state.clone())
        .split_for_parts();
    let token = Arc::new(ApiToken::new(api_token));
    let v1 = v1.layer(axum::middleware::from_fn_with_state(
        token,
        auth::require_token,
    ));
    let doc = Arc::new(openapi::served(openapi::finish(doc)));
    Router::new()
        .merge(v1)
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || async move { axum::Json((*doc).clone()) }),
        )
        .merge(health::routes(state))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .fallback(|| async { ApiError::not_found("no such route") })
}

/// Serves until `cancel`, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { cancel.cancelled().await })
    .await?;
    Ok(())
}

/// The token routes: refused while an end user is over its misses, a 404
/// counts as a miss (taken in advance, given back otherwise), and every
/// answer, 429 included, takes at least [`throttle::FLOOR`].
async fn token_route<T>(
    state: &AppState,
    client: IpAddr,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let started = Instant::now();
    let result = match state.throttle.reserve(client) {
        Ok(reservation) => {
            let result = work.await;
            if !matches!(&result, Err(e) if e.status == axum::http::StatusCode::NOT_FOUND) {
                state.throttle.refund(reservation);
            } else {
                ::metrics::counter!("herald_api_token_misses_total").increment(1);
            }
            result
        }
        Err(refused) => Err(refused),
    };
    tokio::time::sleep_until((started + throttle::FLOOR).into()).await;
    result
}
