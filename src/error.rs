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

/// What a data exception (SQLSTATE class 22) says in words of our own, or
/// `None` for any other error. Class 22 is a value the statement was given
/// that the database cannot take: not valid for its type, out of range,
/// too long, a character it cannot store. Whoever gave the value is at
/// fault, and it would be refused again. The server's own message is not
/// used: it may quote the value.
pub fn data_exception(e: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let code = db.code()?;
    let what = match &*code {
        "22P02" => "a value is not valid for its type",
        "22003" => "a number is out of range",
        "22008" | "22007" | "22009" => "a date, time or interval is out of range",
        "22021" | "22P05" => "a text holds a character the database cannot store (such as NUL)",
        "22001" => "a text is longer than the database allows",
        "22004" => "a value may not be null",
        "22012" => "a value divides by zero",
        _ if code.starts_with("22") => "a value the database cannot take",
        _ => return None,
    };
    Some(format!("{what} (SQLSTATE {code})"))
}

/// The database's reason for refusing, in words, with its SQLSTATE. A data
/// exception's message quotes the refused value (which could be anything the
/// event carried), so it is told in Herald's words ([`data_exception`]); the
/// others name the constraint or limit, never the value.
pub fn refusal(e: &sqlx::Error) -> String {
    if let Some(what) = data_exception(e) {
        return format!("database refused the event: {what}");
    }
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
pub(crate) mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A server error with `code`, as PostgreSQL would send it.
    #[derive(Debug)]
    pub(crate) struct ServerError {
        pub code: &'static str,
        pub message: &'static str,
    }

    impl fmt::Display for ServerError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    pub(crate) fn server_error(code: &'static str, message: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(ServerError { code, message }))
    }

    #[test]
    fn data_exceptions_are_told_without_the_value() {
        let e = server_error("22P02", r#"invalid input syntax for type uuid: "s3cr3t""#);
        let told = data_exception(&e).unwrap();
        assert_eq!(told, "a value is not valid for its type (SQLSTATE 22P02)");
        assert!(!is_passing(&e));
        for code in ["22003", "22008", "22021", "22P05", "22001", "22023"] {
            let told = data_exception(&server_error(code, "x")).unwrap();
            assert!(told.ends_with(&format!("(SQLSTATE {code})")), "{told}");
        }
        for other in [
            server_error("23505", "duplicate key"),
            server_error("40001", "could not serialize"),
            sqlx::Error::PoolTimedOut,
        ] {
            assert_eq!(data_exception(&other), None, "{other}");
        }
    }

    #[test]
    fn a_refused_event_is_told_without_the_value() {
        let e = server_error(
            "22007",
            r#"invalid input syntax for type date: "tok_s3cr3t""#,
        );
        let told = refusal(&e);
        assert!(!told.contains("s3cr3t"), "{told}");
        assert!(told.ends_with("(SQLSTATE 22007)"), "{told}");
        let unique = server_error(
            "23505",
            "duplicate key value violates unique constraint \"x\"",
        );
        assert!(refusal(&unique).contains("unique constraint"));
    }

    #[test]
    fn races_and_shutdowns_are_passing_and_not_data_exceptions() {
        for code in ["40001", "40P01", "57P01", "08006", "53300"] {
            assert!(is_passing(&server_error(code, "x")), "{code}");
        }
        assert!(!is_passing(&server_error("22021", "x")));
    }

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
