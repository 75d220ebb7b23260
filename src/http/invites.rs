//! `/v1/invites`: validate and accept a link's token, list, revoke.

use super::error::{ApiError, Json, Query};
use super::paging::paging;
use super::throttle::EndUser;
use super::{AppState, TokenBody, token_route};
use crate::domain::{InviteStatus, Token};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use utoipa::{IntoParams, ToSchema};

/// `status` as a reader sees it: a pending invite past its expiry is `expired`.
const SELECT: &str = "SELECT id, email, role,
        CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
        expires_at, metadata FROM invites";

#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct Invite {
    pub id: String,
    pub email: String,
    pub role: String,
    pub status: InviteStatus,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Serialize, ToSchema)]
pub struct InviteBody {
    pub invite: Invite,
}

/// Why a token does not open an invite, in the contract's codes.
fn usable(invite: Option<Invite>) -> Result<Invite, ApiError> {
    let invite =
        invite.ok_or_else(|| ApiError::not_found("unknown, replaced or revoked invite token"))?;
    match invite.status {
        InviteStatus::Pending => Ok(invite),
        InviteStatus::Accepted => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_accepted",
            "the invite was already accepted",
        )),
        InviteStatus::Expired => Err(ApiError::new(
            StatusCode::GONE,
            "expired",
            "the invite has expired; ask for a new one",
        )),
        InviteStatus::Revoked => Err(ApiError::not_found(
            "unknown, replaced or revoked invite token",
        )),
    }
}

async fn by_token(
    conn: &mut PgConnection,
    token: &str,
    lock: bool,
) -> sqlx::Result<Option<Invite>> {
    let Ok(token) = Token::parse(token) else {
        return Ok(None);
    };
    let sql = format!(
        "{SELECT} WHERE token_hash = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token.hash().as_bytes().to_vec())
        .fetch_optional(conn)
        .await
}

#[utoipa::path(post, path = "/v1/invites/validate", request_body = TokenBody, tag = "invites",
    responses((status = 200, body = InviteBody), (status = 404, description = "unknown, replaced or revoked"),
              (status = 409, description = "already accepted"), (status = 410, description = "expired"),
              (status = 429, description = "too many unknown tokens from this end user")))]
pub async fn validate(
    State(state): State<AppState>,
    EndUser(client): EndUser,
    Json(body): Json<TokenBody>,
) -> Result<Json<InviteBody>, ApiError> {
    token_route(&state, client, async {
        let mut conn = state.pool.acquire().await?;
        let invite = usable(by_token(&mut conn, &body.token, false).await?)?;
        Ok(Json(InviteBody { invite }))
    })
    .await
}

#[utoipa::path(post, path = "/v1/invites/accept", request_body = TokenBody, tag = "invites",
    responses((status = 200, body = InviteBody, description = "accepted now; invite.accepted is published"),
              (status = 404), (status = 409), (status = 410), (status = 429)))]
pub async fn accept(
    State(state): State<AppState>,
    EndUser(client): EndUser,
    Json(body): Json<TokenBody>,
) -> Result<Json<InviteBody>, ApiError> {
    token_route(&state, client, async {
        let mut tx = state.pool.begin().await?;
        // The row lock makes concurrent accepts queue: exactly one finds it pending.
        let mut invite = usable(by_token(&mut tx, &body.token, true).await?)?;
        sqlx::query("UPDATE invites SET status = 'accepted', accepted_at = now(), updated_at = now() WHERE id = $1")
            .bind(&invite.id)
            .execute(&mut *tx)
            .await?;
        crate::relay::enqueue(&mut tx, "invite.accepted", json!({"id": invite.id})).await?;
        tx.commit().await?;
        invite.status = InviteStatus::Accepted;
        Ok(Json(InviteBody { invite }))
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// pending, accepted, expired or revoked; all when absent.
    #[param(inline)]
    pub status: Option<InviteStatus>,
    /// 1 to 100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Default 0.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteList {
    pub invites: Vec<Invite>,
    /// All invites matching the filter.
    pub count: i64,
    pub limit: i64,
    pub offset: i64,
}

#[utoipa::path(get, path = "/v1/invites", params(ListQuery), tag = "invites",
    responses((status = 200, body = InviteList), (status = 400, description = "bad filter or paging")))]
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<InviteList>, ApiError> {
    let (limit, offset) = paging(q.limit, q.offset)?;
    let filtered = format!("SELECT * FROM ({SELECT}) v WHERE ($1::text IS NULL OR v.status = $1)");
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM ({filtered}) c"
    )))
    .bind(q.status)
    .fetch_one(&state.pool)
    .await?;
    let invites: Vec<Invite> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{filtered} ORDER BY v.expires_at DESC, v.id LIMIT $2 OFFSET $3"
    )))
    .bind(q.status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(InviteList {
        invites,
        count,
        limit,
        offset,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub object: &'static str,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/v1/invites/{id}", params(("id" = String, Path)), tag = "invites",
    responses((status = 200, body = Deleted, description = "revoked; its token stops working"),
              (status = 404, description = "unknown invite"), (status = 409, description = "already accepted")))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let status: Option<InviteStatus> = sqlx::query_scalar(
        "UPDATE invites SET status = CASE WHEN status = 'pending' THEN 'revoked' ELSE status END,
                revoked_at = CASE WHEN status = 'pending' THEN now() ELSE revoked_at END, updated_at = now()
         WHERE id = $1 RETURNING status",
    )
    .bind(&id)
    .fetch_optional(&state.pool)
    .await?;
    match status {
        None => Err(ApiError::not_found(format!("no invite {id:?}"))),
        Some(InviteStatus::Accepted) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_accepted",
            "an accepted invite cannot be revoked",
        )),
        Some(_) => Ok(Json(Deleted {
            id,
            object: "invite",
            deleted: true,
        })),
    }
}
