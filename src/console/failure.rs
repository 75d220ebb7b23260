//! What a console request answers when it cannot show its page: a redirect
//! to sign in, or a short HTML page saying why (escaped, as everything).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

#[derive(Debug)]
pub enum Failure {
    /// No valid session: sign in first.
    SignIn,
    Refused(StatusCode, String),
}

impl Failure {
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::Refused(StatusCode::FORBIDDEN, why.into())
    }

    pub fn not_found(why: impl Into<String>) -> Self {
        Self::Refused(StatusCode::NOT_FOUND, why.into())
    }

    /// Logged in full; the page only says where to look.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "console request failed");
        Self::Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log".into(),
        )
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::SignIn => Redirect::to("/console/sign-in").into_response(),
            Failure::Refused(status, why) => {
                let page = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                     <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                     <title>{code} · Herald</title><link rel=\"stylesheet\" href=\"/console/style.css\"></head>\
                     <body><main><h1>{code}</h1><p class=\"notice bad\">{why}</p>\
                     <p><a href=\"/console\">Back to the console</a></p></main></body></html>",
                    code = status.as_u16(),
                    why = handlebars::html_escape(&why),
                );
                (status, Html(page)).into_response()
            }
        }
    }
}
