//! The one distinction every caller branches on: an event that can never
//! succeed (dead-letter it) versus a passing fault (wait and try again).

use std::fmt;

/// Why an event can never succeed. Written into `x-herald-error`, so it must
/// never quote a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

impl Rejection {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("rejected: {0}")]
    Reject(Rejection),
    #[error("transient: {0:#}")]
    Transient(anyhow::Error),
}

impl From<Rejection> for HandleError {
    fn from(r: Rejection) -> Self {
        HandleError::Reject(r)
    }
}

impl From<sqlx::Error> for HandleError {
    /// Integrity and data errors (SQLSTATE classes 22 and 23) come from the
    /// event itself and will recur; everything else (connection lost, pool
    /// timeout, serialization failure) is worth retrying.
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && let Some(code) = db.code()
            && (code.starts_with("22") || code.starts_with("23"))
        {
            return HandleError::Reject(Rejection::new(format!(
                "database refused the event: {}",
                db.message()
            )));
        }
        HandleError::Transient(e.into())
    }
}
