//! Logs on stderr: human-readable on a terminal, JSON lines otherwise, levels
//! from `RUST_LOG`. Each event's lines carry its id and type (span fields).

use crate::settings::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Without `RUST_LOG`: INFO, minus two dependency lines that say nothing to
/// an operator: sqlx's notice that the migrations table already exists, and
/// lapin's dump of a returned message (its bytes), which Herald reports itself.
pub const DEFAULT_FILTER: &str = "info,sqlx::postgres::notice=warn,lapin::returned_messages=error";

pub fn init(format: Option<LogFormat>) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    // A subscriber already set (tests) is fine.
    drop(result);
}
