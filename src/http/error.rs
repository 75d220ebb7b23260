//! JSON errors as the contract shapes them: `{"error":{"code","message"}}`,
//! including for bodies axum itself refuses.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

/// A data exception is the request's fault (400: it would be refused
/// again); a passing fault is the database's (503: try again); anything
/// else is Herald's (500). Neither answer quotes the server's message,
/// which may quote a value.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(what) = crate::error::data_exception(&e) {
            tracing::info!(error = %what, "request refused by the database");
            return Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_value",
                format!("the request holds a value the database cannot take: {what}"),
            );
        }
        if crate::error::is_passing(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; try again shortly",
            );
        }
        Self::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let (status, code) = match &r {
            JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "malformed_body"),
        };
        Self::new(status, code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// `axum::Json` with the contract's error shape.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` with the contract's error shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::tests::server_error;

    #[test]
    fn a_data_exception_is_the_requests_fault_and_quotes_no_value() {
        let e = ApiError::from(server_error(
            "22P02",
            r#"invalid input syntax for type integer: "whsec_s3cr3t""#,
        ));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid_value")
        );
        assert!(e.message.contains("SQLSTATE 22P02"), "{}", e.message);
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        for code in ["22003", "22008", "22021", "22P05", "22001"] {
            assert_eq!(
                ApiError::from(server_error(code, "x")).status,
                StatusCode::BAD_REQUEST
            );
        }
    }

    #[test]
    fn passing_faults_are_503_and_the_rest_500() {
        let passing = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
            server_error("40001", "could not serialize access"),
            server_error(
                "57P01",
                "terminating connection due to administrator command",
            ),
        ];
        for e in passing {
            let e = ApiError::from(e);
            assert_eq!(
                (e.status, e.code),
                (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable")
            );
        }
        for e in [
            sqlx::Error::RowNotFound,
            server_error("23505", "duplicate key value"),
        ] {
            assert_eq!(ApiError::from(e).status, StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}
