//! `/v1` answers only to `Authorization: Bearer $HERALD_API_TOKEN`, compared
//! in constant time; with no token configured it answers 503 and says why.

use super::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The configured token, kept only as a digest so comparisons take the same
/// time whatever the length or content of what a client sends.
#[derive(Clone)]
pub struct ApiToken(Option<[u8; 32]>);

impl ApiToken {
    pub fn new(token: Option<&str>) -> Self {
        Self(
            token
                .filter(|t| !t.is_empty())
                .map(|t| Sha256::digest(t.as_bytes()).into()),
        )
    }

    /// Whether `given` is the token, in constant time; `None` while no
    /// token is configured.
    pub fn matches(&self, given: &str) -> Option<bool> {
        let expected = self.0?;
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        Some(bool::from(digest.ct_eq(&expected)))
    }
}

pub async fn require_token(
    State(token): State<Arc<ApiToken>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = token.0 else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_disabled",
            "the API is disabled: set HERALD_API_TOKEN to enable /v1",
        ));
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
    if bool::from(digest.ct_eq(&expected)) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ))
    }
}
