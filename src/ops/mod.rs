//! Operators' tools over what Herald recorded: the resend of an email (the
//! API, the CLI and the console call the same function) and the `herald
//! emails` / `herald events` commands. The reads live in
//! `store::email_outbox` and `store::delivery_log`.

pub mod cli;
pub mod resend;
