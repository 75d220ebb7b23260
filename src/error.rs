//! The one distinction every caller branches on: an event that can never
//! succeed (dead-letter it) versus a passing fault (wait and try again).
//!
//! Passing faults are an allowlist: only what says the database is away or
//! overloaded is waited out. Everything else the database refuses would be
//! refused again on every retry, so it is the event's own fault: retrying it
//! would stall every event queued behind it.

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
    fn from(e: sqlx::Error) -> Self {
        if is_passing(&e) {
            return HandleError::Transient(e.into());
        }
        HandleError::Reject(Rejection::new(refusal(&e)))
    }
}

/// SQLSTATE codes that say the server is going away or the transaction lost
/// a race, not that the statement is wrong: serialization failure, deadlock,
/// administrator, crash and cannot-connect-now shutdowns.
const PASSING_CODES: [&str; 5] = ["40001", "40P01", "57P01", "57P02", "57P03"];

/// Whether `e` is a passing fault: the connection was lost or refused, the
/// pool timed out or closed, TLS or I/O failed, or the server answered with
/// a connection-exception (08), insufficient-resources (53) or one of
/// `PASSING_CODES`.
pub fn is_passing(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || PASSING_CODES.contains(&&*code)
        }),
        _ => false,
    }
}

/// The database's reason for refusing, in words, with its SQLSTATE. The
/// server's message names the constraint or limit, never the refused value.
pub fn refusal(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!(
                "database refused the event: {} (SQLSTATE {code})",
                db.message()
            ),
            None => format!("database refused the event: {}", db.message()),
        },
        other => format!("database refused the event: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_pool_faults_are_passing() {
        assert!(is_passing(&sqlx::Error::PoolTimedOut));
        assert!(is_passing(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_passing(&sqlx::Error::RowNotFound));
        assert!(!is_passing(&sqlx::Error::Protocol("bad message".into())));
    }
}
