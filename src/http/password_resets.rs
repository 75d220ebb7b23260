//! `/v1/password-resets/consume`: a reset link's token works once.

use super::error::{ApiError, Json};
use super::throttle::EndUser;
use super::{AppState, TokenBody, token_route};
use crate::domain::Token;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, sqlx::FromRow, ToSchema)]
pub struct Consumed {
    pub email: String,
    pub user_id: Option<String>,
}

#[utoipa::path(post, path = "/v1/password-resets/consume", request_body = TokenBody, tag = "password-resets",
    responses((status = 200, body = Consumed, description = "the token is now used"),
              (status = 404, description = "unknown, used or replaced"), (status = 410, description = "expired"),
              (status = 429, description = "too many unknown tokens from this end user")))]
pub async fn consume(
    State(state): State<AppState>,
    EndUser(client): EndUser,
    Json(body): Json<TokenBody>,
) -> Result<Json<Consumed>, ApiError> {
    token_route(&state, client, async {
        let unknown = || ApiError::not_found("unknown, used or replaced reset token");
        let hash = Token::parse(&body.token).map_err(|_| unknown())?.hash().as_bytes().to_vec();
        // One statement: of two concurrent consumes, exactly one updates the row.
        let consumed: Option<Consumed> = sqlx::query_as(
            "UPDATE password_reset_tokens SET used_at = now()
             WHERE token_hash = $1 AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > now()
             RETURNING email, user_id",
        )
        .bind(&hash)
        .fetch_optional(&state.pool)
        .await?;
        if let Some(consumed) = consumed {
            return Ok(Json(consumed));
        }
        let live_but_expired: Option<bool> = sqlx::query_scalar(
            "SELECT used_at IS NULL AND invalidated_at IS NULL FROM password_reset_tokens WHERE token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(&state.pool)
        .await?;
        match live_but_expired {
            Some(true) => Err(ApiError::new(StatusCode::GONE, "expired", "the reset link has expired; ask for a new one")),
            _ => Err(unknown()),
        }
    })
    .await
}
