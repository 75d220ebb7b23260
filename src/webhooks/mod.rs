//! Webhooks out, per Standard Webhooks: endpoints, the fan-out of every
//! processed event in its own transaction, and the dispatcher that signs,
//! sends and retries.
//!
//! ```text
//! intake::batch: events::apply ─► fan_out (delivery rows, same transaction) ─► commit
//! dispatcher: claim due rows (lease, SKIP LOCKED) ─► sign ─► POST ─► record attempt
//!             ─► delivered | retry later | failed (replayable) | endpoint disabled
//! ```

pub mod cli;
pub mod dispatcher;
pub mod endpoints;
mod fan_out;
pub mod payload;
pub mod retry_delay;
pub mod signing;
pub mod ssrf;
pub mod url_shape;

pub use fan_out::{Subscribers, WAKE_CHANNEL, fan_out, fan_out_all};
