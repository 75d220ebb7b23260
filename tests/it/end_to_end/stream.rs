//! A mixed stream of every event kind, and what it must leave behind.
//!
//! Resends and accepts refer to seed invites published (and processed)
//! before the stream, so no event depends on another of the stream: with
//! redeliveries and replicas, events of the stream overtake one another.

use serde_json::{Value, json};

pub struct Stream {
    /// Invites the stream's resends and accepts refer to.
    pub seeds: Vec<(&'static str, Value)>,
    pub events: Vec<(&'static str, Value)>,
}

/// What a processed stream leaves behind, counted over seeds and events.
#[derive(Debug, Default)]
pub struct Expected {
    pub seeds: i64,
    pub events: i64,
    pub emails: i64,
    pub webhooks: i64,
    pub invites: i64,
    pub accepted: i64,
    pub resets: i64,
    /// Events of the stream that must be dead-lettered, each once.
    pub dead_letters: u32,
}

/// `tens` groups of ten events: four invites created, a resend, an accept,
/// a password reset, a user created, updated and deleted.
pub fn mixed(tens: usize) -> (Stream, Expected) {
    let mut seeds = Vec::new();
    let mut events = Vec::new();
    for k in 0..tens {
        for (seed, slot) in [("r", 3), ("a", 4)] {
            let id = format!("seed-{seed}-{k}");
            let data = json!({"id": id, "email": format!("{id}@example.test"), "role": "member"});
            seeds.push(("invite.created", data));
            let kind = if slot == 3 {
                "invite.resent"
            } else {
                "invite.accepted"
            };
            events.push((10 * k + slot, kind, json!({"id": id})));
        }
        for slot in [0, 1, 2, 9] {
            let i = 10 * k + slot;
            let data = json!({"id": format!("inv-{i}"), "email": format!("i{i}@example.test"),
                              "first_name": "Ada", "invited_by": "grace@example.test"});
            events.push((i, "invite.created", data));
        }
        let i = 10 * k;
        let reset = json!({"email": format!("r{i}@example.test"), "user_id": format!("usr-r-{i}")});
        events.push((i + 5, "user.password_reset", reset));
        let user = json!({"id": format!("usr-{i}"), "email": format!("w{i}@example.test")});
        events.push((i + 6, "user.created", user));
        let update = json!({"id": format!("usr-{i}"), "first_name": "Grace"});
        events.push((i + 7, "user.updated", update));
        // Without an email: with one, the user's erasure would delete the
        // event's delivery rows once delivered, which the verdict counts
        // (erasure has its own test, `erasure::`).
        let delete = json!({"id": format!("usr-d-{i}")});
        events.push((i + 8, "user.deleted", delete));
    }
    events.sort_by_key(|(i, _, _)| *i);
    let tens = tens as i64;
    let expected = Expected {
        seeds: 2 * tens,
        events: 12 * tens,
        // Seeds 2, invites created 4, a resend, a reset, a welcome.
        emails: 9 * tens,
        webhooks: 12 * tens,
        invites: 6 * tens,
        accepted: tens,
        resets: tens,
        dead_letters: 0,
    };
    let events = events.into_iter().map(|(_, ty, data)| (ty, data)).collect();
    (Stream { seeds, events }, expected)
}
