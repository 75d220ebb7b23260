//! `webhook_deliveries`, with the `webhook_attempts` recorded beside them:
//! every statement on them, but for the jobs that span tables
//! (`delivery_log`, `retention`, `erasure`).
//!
//! - `insert`: a fan-out's rows, in the caller's transaction.
//! - `claim`: due rows leased; each decoded alone, so a row that does not
//!   read fails by itself instead of failing the claim.
//! - `record`: attempts with where their deliveries go next; a lease given back.
//! - `requeue`: failed rows replayed; retries brought forward.
//! - `reads`: an endpoint's recent attempts and its failure counts.
//! - `counts`: the backlog (for `/metrics`) and the last hour (for the console's overview).

mod claim;
mod counts;
mod insert;
mod reads;
mod record;
mod requeue;

pub use claim::{Claim, Lease, Leased, Unreadable, claim};
pub use counts::{WebhooksLastHour, backlog, last_hour};
pub use insert::{NewDelivery, insert};
pub use reads::{EndpointAttempt, EndpointHealth, health, recent_attempts};
pub use record::{Recorded, put_back, record};
pub use requeue::{bring_forward, replay};

use crate::domain::text_enum;

text_enum! {
    /// Where a delivery stands: `pending` (due, leased or waiting for a
    /// retry), `delivered`, or `failed` (replayable).
    #[derive(utoipa::ToSchema)]
    pub enum DeliveryStatus as "webhook delivery status" {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
}

text_enum! {
    /// How one attempt went: `delivered`, `retry` (it will be tried again)
    /// or `failed` (it will not).
    #[derive(utoipa::ToSchema)]
    pub enum AttemptOutcome as "webhook attempt outcome" {
        Delivered = "delivered",
        Retry = "retry",
        Failed = "failed",
    }
}
