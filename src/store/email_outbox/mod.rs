//! Every statement on `email_outbox` and `email_attempts` outside the
//! cross-table jobs (`retention`, `erasure`, `delivery_log`, `key_check`),
//! and the typed values its rows are read into: an [`EmailStatus`], an
//! [`EmailTemplate`], an [`EmailAddress`].
//! A row to send or resend is parsed as it is read, and nothing downstream
//! checks it again; one that does not parse fails alone ([`Unreadable`]).
//! Operators' lists show the template and recipient as stored, so that
//! such a row is still seen.
//!
//! - `insert`: emails written in the event's transaction (a dropped one with why).
//! - `claim`: due rows leased, rate-limit slots taken, each row read.
//! - `record`: attempts kept and rows moved on, ends announced.
//! - `limit`: the per-recipient limit's locks, counts and slots.
//! - `read`: lists and shows for the API, the CLI and the console; a resend's original.
//! - `counts`: the backlog gauges and the overview's last hour.
//! - `outcome`: an email's end as `email.sent` / `email.failed` announce it.
//!
//! What an attempt means and when to retry is the dispatcher's
//! (`email::EmailDispatcher`); this module only stores it.

mod claim;
pub mod counts;
mod insert;
mod limit;
mod outcome;
pub mod read;
mod record;
mod status;
mod template;

pub use claim::{Claimed, Unreadable, claim};
pub use insert::{NewEmail, insert_dropped_email, insert_email, insert_emails};
pub use limit::{RateLimit, within_limits};
pub use outcome::EmailOutcome;
pub use read::{Email, EmailAttempt, EmailWithAttempts, Filter, Original};
pub use record::{Attempt, Next, Record, record_many};
pub use status::EmailStatus;
pub use template::EmailTemplate;

use crate::domain::EmailAddress;

/// The channel the email dispatcher listens on; each new outbox row notifies it.
pub const EMAIL_WAKE_CHANNEL: &str = "herald_emails";

/// A row's template and recipient as this Herald reads them; `Err` says
/// which it cannot read, and why.
pub(super) fn read_names(
    template: &str,
    recipient: &str,
) -> Result<(EmailTemplate, EmailAddress), String> {
    let template = template
        .parse()
        .map_err(|e| format!("this Herald cannot read the stored email: {e}"))?;
    let recipient = EmailAddress::parse(recipient).map_err(|e| {
        format!("this Herald cannot read the stored email: its recipient is no valid address: {e}")
    })?;
    Ok((template, recipient))
}
