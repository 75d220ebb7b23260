//! The per-recipient limit on invite and reset emails, so nobody can flood
//! an inbox through the reset form. A row takes a slot once; the count is
//! taken under a per-recipient advisory lock so two replicas cannot both
//! take the last slot (`store::email_outbox`'s `limit`).
//!
//! A reset takes its slot at intake (`within_limits`, in the event's
//! transaction): over the limit it must change nothing, or whoever can
//! trigger resets for an address could keep invalidating its owner's
//! emailed tokens. An invite takes its slot when it is first claimed
//! (`take_slots`, set-based, in the claim's transaction): invites come from
//! administrators, and a resent invite that is sent late still replaces the
//! old link as intended.

use crate::settings::RateLimit;
use crate::store::EmailTemplate;

/// Says why an email was not sent.
pub fn over_limit(limit: RateLimit, template: EmailTemplate) -> String {
    format!(
        "over the limit of {} {template} emails per {} to this address",
        limit.max,
        humantime::format_duration(limit.per)
    )
}
