//! `/v1/webhook-endpoints`: the CLI's endpoint management over HTTP, through
//! the same `webhooks::endpoints` functions, plus recent attempts.

use super::AppState;
use super::error::{ApiError, Json, Query};
use crate::store::webhook_deliveries::{self, EndpointAttempt};
use crate::webhooks::endpoints::{self, Endpoint, EndpointError, NewEndpoint};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

impl From<EndpointError> for ApiError {
    fn from(e: EndpointError) -> Self {
        match e {
            EndpointError::NotFound(_) => ApiError::not_found(e.to_string()),
            EndpointError::Database(e) => e.into(),
            other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_endpoint",
                other.to_string(),
            ),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are POSTed: an absolute http:// or https:// URL without
    /// credentials; a public address unless HERALD_WEBHOOK_ALLOW_PRIVATE.
    #[schema(
        format = "uri",
        // `webhooks::url_shape::PATTERN` (a literal here; the OpenAPI test
        // holds the two equal).
        pattern = r"^https?://(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?)(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?(\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?(#([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
        min_length = 8,
        max_length = 2048
    )]
    pub url: String,
    /// Event types to receive; every type when absent or empty.
    #[serde(default)]
    #[schema(value_type = Vec<EventTypeName>)]
    pub events: Vec<String>,
    /// `whsec_` + base64 of 24 to 64 bytes; generated when absent.
    // Padded canonical base64 of 24 to 64 bytes, exactly what `Secret::parse` takes.
    #[schema(
        pattern = "^whsec_(([A-Za-z0-9+/]{4}){8,21}|([A-Za-z0-9+/]{4}){8,20}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=|([A-Za-z0-9+/]{4}){8,21}[A-Za-z0-9+/][AQgw]==)$"
    )]
    pub secret: Option<String>,
}

/// An event type, e.g. `invite.created`.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9._-]{1,255}$")]
pub struct EventTypeName(#[allow(dead_code)] String);

#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// While a secret rotation's grace period lasts: when the old secret
    /// stops signing.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Only in the answer that creates it (a create or a rotation); it is
    /// sealed at rest and never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            url: e.url,
            events: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            previous_secret_until: e.previous_secret_until,
            secret: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

fn endpoint_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no webhook endpoint {raw:?}")))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints", request_body = CreateEndpoint, tag = "webhook-endpoints",
    responses((status = 201, body = EndpointView, description = "created; the secret is shown this once",
        links(
            ("get" = (operation_id = "webhook_endpoints_get", parameters(("id" = "$response.body#/id")))),
            ("attempts" = (operation_id = "webhook_endpoints_attempts", parameters(("id" = "$response.body#/id")))),
            ("rotate_secret" = (operation_id = "webhook_endpoints_rotate_secret", parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "webhook_endpoints_delete", parameters(("id" = "$response.body#/id"))))
        )),
              (status = 422, description = "bad URL, secret or event type, or a private target")))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let new = NewEndpoint {
        url: &body.url,
        event_types: body.events,
        secret: body.secret.as_deref(),
        allow_private: state.allow_private,
    };
    let (id, secret) = endpoints::create(&state.pool, state.key()?, new).await?;
    let mut view = EndpointView::from(endpoints::get(&state.pool, id).await?);
    view.secret = Some(secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the old secret keeps signing too: a number and one unit
    /// (`ms`, `s`, `m`, `h`, `d`), e.g. `24h`, `90m`; default 24h, `0s`
    /// drops it at once.
    #[schema(example = "24h", pattern = "^[0-9]{1,5}(ms|s|m|h|d)$")]
    pub grace: Option<String>,
}

/// `RotateSecret::grace`, held to the schema's pattern (so that what the
/// document allows and what is accepted are the same set), then humantime.
fn grace(raw: &str) -> Result<std::time::Duration, EndpointError> {
    let digits = raw.bytes().take_while(u8::is_ascii_digit).count();
    let unit = &raw[digits..];
    if !(1..=5).contains(&digits) || !matches!(unit, "ms" | "s" | "m" | "h" | "d") {
        return Err(EndpointError::InvalidGrace(
            "expected a number and one unit: ms, s, m, h or d (e.g. 24h)".into(),
        ));
    }
    humantime::parse_duration(raw).map_err(|e| EndpointError::InvalidGrace(e.to_string()))
}

/// How long the old secret signs too unless told otherwise.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", params(("id" = Uuid, Path)),
    request_body(content = Option<RotateSecret>, description = "optional; none means the default grace of 24h"), tag = "webhook-endpoints",
    responses((status = 200, body = EndpointView, description = "the new secret, shown this once; during the grace period every request carries both signatures"),
              (status = 404), (status = 422, description = "bad grace period")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<EndpointView>, ApiError> {
    let id = endpoint_id(&id)?;
    // The body is optional: none at all, or `null`, means the default grace.
    let body: Option<RotateSecret> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                e.to_string(),
            )
        })?
    };
    let grace = match body.and_then(|b| b.grace) {
        None => DEFAULT_GRACE,
        Some(raw) => grace(&raw)?,
    };
    let secret = endpoints::rotate_secret(&state.pool, state.key()?, id, grace).await?;
    let mut view = EndpointView::from(endpoints::get(&state.pool, id).await?);
    view.secret = Some(secret.expose().to_owned());
    Ok(Json(view))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhook-endpoints", responses((status = 200, body = EndpointList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = endpoints::list(&state.pool)
        .await?
        .into_iter()
        .map(EndpointView::from)
        .collect();
    Ok(Json(EndpointList { endpoints }))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", params(("id" = Uuid, Path)), tag = "webhook-endpoints",
    responses((status = 200, body = EndpointView), (status = 404)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(
        endpoints::get(&state.pool, endpoint_id(&id)?).await?.into(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct DeletedEndpoint {
    pub id: Uuid,
    pub object: &'static str,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", params(("id" = Uuid, Path)), tag = "webhook-endpoints",
    responses((status = 200, body = DeletedEndpoint), (status = 404)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DeletedEndpoint>, ApiError> {
    let id = endpoint_id(&id)?;
    endpoints::remove(&state.pool, id).await?;
    Ok(Json(DeletedEndpoint {
        id,
        object: "webhook_endpoint",
        deleted: true,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsQuery {
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptList {
    pub attempts: Vec<EndpointAttempt>,
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/attempts", params(("id" = Uuid, Path), AttemptsQuery),
    tag = "webhook-endpoints", responses((status = 200, body = AttemptList), (status = 404)))]
pub async fn attempts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<AttemptsQuery>,
) -> Result<Json<AttemptList>, ApiError> {
    let id = endpoint_id(&id)?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=super::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to {}", super::MAX_LIMIT),
        ));
    }
    endpoints::get(&state.pool, id).await?;
    let attempts = webhook_deliveries::recent_attempts(&state.pool, id, limit).await?;
    Ok(Json(AttemptList { attempts }))
}
