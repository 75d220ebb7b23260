//! A run of events applied set-based: one statement per table for the whole
//! run, whatever its length. Only the kinds whose effects are plain inserts
//! (`invite.created`, `user.created`, and the kinds forwarded by webhook
//! only) run this way; the others are applied one at a time between runs,
//! so the order of a window's events is kept.

use super::invite_created::{InviteRow, insert_all};
use super::{Context, Event, Meta, PasswordReset};
use crate::error::HandleError;
use crate::store::insert_emails;
use serde_json::{Map, Value};
use sqlx::PgConnection;

/// How an applied event is forwarded.
#[derive(Debug)]
pub enum Forward {
    /// Its webhook body can be built now: the event's data, with the invite
    /// row its statement returned merged over it (for a new invite).
    Built(Option<Map<String, Value>>),
    /// An invite Herald already held: its row is read back when forwarded.
    Reread,
}

impl Event {
    /// Whether the event can join a set-based run.
    pub fn runs_set_based(&self) -> bool {
        matches!(
            self,
            Event::InviteCreated(_)
                | Event::UserCreated(_)
                | Event::UserUpdated(_)
                | Event::PasswordReset(PasswordReset::OtherActor(_))
        )
    }

    /// The invite id a run must not hold twice (the second one is a resend
    /// of the first, so it waits for the next run).
    pub fn created_invite(&self) -> Option<&str> {
        match self {
            Event::InviteCreated(e) => Some(e.id.as_str()),
            _ => None,
        }
    }
}

/// Applies a run of set-based events (see [`Event::runs_set_based`]), each
/// already recorded as new, with a created invite at most once: one
/// statement for the invites, one for the emails. Returns how each is
/// forwarded, in order.
pub async fn apply_run(
    conn: &mut PgConnection,
    ctx: &Context,
    run: &[(Meta<'_>, &Event)],
) -> Result<Vec<Forward>, HandleError> {
    let (at, rows): (Vec<usize>, Vec<InviteRow<'_>>) = run
        .iter()
        .enumerate()
        .filter_map(|(i, (meta, event))| match event {
            Event::InviteCreated(e) => Some((i, e.row(meta, ctx))),
            _ => None,
        })
        .unzip();
    let mut inserted = if rows.is_empty() {
        Default::default()
    } else {
        insert_all(conn, &rows).await?
    };
    let mut emails = Vec::new();
    let mut forwards: Vec<Forward> = run.iter().map(|_| Forward::Built(None)).collect();
    let mut held = Vec::new();
    for (&i, row) in at.iter().zip(&rows) {
        match inserted.remove(row.invite.id.as_str()) {
            Some(fields) => {
                emails.push(row.email(&run[i].0));
                forwards[i] = Forward::Built(Some(fields));
            }
            None => held.push(i),
        }
    }
    for (meta, event) in run {
        if let Event::UserCreated(e) = event {
            emails.extend(e.email(meta));
        }
    }
    insert_emails(conn, &ctx.key, emails).await?;
    for i in held {
        let (meta, event) = &run[i];
        if let Event::InviteCreated(e) = event {
            e.held(conn, meta, ctx).await?;
        }
        forwards[i] = Forward::Reread;
    }
    Ok(forwards)
}
