//! `/v1/emails`: the email outbox (every attempt), and the resend of an
//! email, through `store::email_outbox` and `ops::resend`.

use super::AppState;
use super::error::{ApiError, Json, Query};
use super::paging::paging;
use crate::ops::resend::{self, ResendError};
use crate::store::email_outbox::{Email, EmailStatus, EmailTemplate, EmailWithAttempts, read};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only emails to this address (ignoring case).
    pub recipient: Option<String>,
    #[param(inline)]
    pub status: Option<EmailStatus>,
    #[param(inline)]
    pub template: Option<EmailTemplate>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailList {
    pub emails: Vec<Email>,
    /// All emails matching the filter.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EmailBody {
    pub email: Email,
}

fn email_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no email {raw:?}")))
}

#[utoipa::path(get, path = "/v1/emails", params(ListQuery), tag = "emails",
    responses((status = 200, body = EmailList, description = "newest first"),
              (status = 400, description = "bad filter or paging")))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<EmailList>, ApiError> {
    let (limit, offset) = paging(q.limit, q.offset)?;
    let filter = read::Filter {
        recipient: q.recipient,
        status: q.status,
        template: q.template,
        limit,
        offset,
    };
    let (emails, count) = read::list(&state.pool, &filter).await?;
    Ok(Json(EmailList {
        emails,
        count,
        limit,
        offset,
    }))
}

#[utoipa::path(get, path = "/v1/emails/{id}", params(("id" = Uuid, Path)), tag = "emails",
    responses((status = 200, body = EmailWithAttempts, description = "the email with every attempt"),
              (status = 404, description = "unknown email")))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EmailWithAttempts>, ApiError> {
    let id = email_id(&id)?;
    read::get(&state.pool, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no email {id}")))
}

impl From<ResendError> for ApiError {
    fn from(e: ResendError) -> Self {
        match e {
            ResendError::NotFound(_) => ApiError::not_found(e.to_string()),
            ResendError::Refused(reason) => {
                ApiError::new(StatusCode::CONFLICT, "cannot_resend", reason)
            }
            ResendError::Database(e) => e.into(),
            ResendError::Failed(e) => ApiError::internal(e),
        }
    }
}

#[utoipa::path(post, path = "/v1/emails/{id}/resend", params(("id" = Uuid, Path)), tag = "emails",
    responses((status = 202, body = EmailBody, description = "the new email, queued: an invite's token rotates (the old link stops working), a reset gets a fresh token (older ones stop working), a welcome email is queued again"),
              (status = 404, description = "unknown email"),
              (status = 409, description = "cannot be sent again: its invite was accepted or revoked, or it is still pending")))]
pub async fn resend(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EmailBody>), ApiError> {
    let id = email_id(&id)?;
    let ctx = state.resend.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_secret_key",
            "HERALD_SECRET_KEY is not set",
        )
    })?;
    let email = resend::resend(&state.pool, ctx, id).await?;
    Ok((StatusCode::ACCEPTED, Json(EmailBody { email })))
}
