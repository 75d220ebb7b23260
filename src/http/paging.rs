//! `limit` and `offset` as every list route takes them.

use super::error::ApiError;
use axum::http::StatusCode;

/// The most rows a list route answers at once.
pub const MAX_LIMIT: i64 = 100;

/// `limit` (1 to [`MAX_LIMIT`], default 20) and `offset` (0 or more, default 0).
pub fn paging(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(20);
    let offset = offset.unwrap_or(0);
    if !(1..=MAX_LIMIT).contains(&limit) || offset < 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("limit must be 1 to {MAX_LIMIT} and offset at least 0"),
        ));
    }
    Ok((limit, offset))
}
