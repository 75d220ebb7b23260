//! A run of events applied set-based: one statement per table for the whole
//! run, whatever its length. The kinds whose effects are inserts and
//! set-wide updates (`invite.created`, resets, `user.created`, and the kinds
//! forwarded by webhook only) run this way; the others are applied one at a time between runs,
//! so the order of a window's events is kept.

use super::invite_created::{InviteRow, insert_all};
use super::password_reset::{ResetRow, UserReset, insert_tokens, invalidate};
use super::{Context, Event, Meta, PasswordReset};
use crate::domain::EmailAddress;
use crate::error::HandleError;
use crate::store::email_outbox::within_limits;
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
                | Event::PasswordReset(_)
        )
    }

    /// What a run must not hold twice, so that the second waits for the
    /// next run and sees the first: an invite id (the second `invite.created`
    /// is a resend), a reset's address (the second invalidates the first's
    /// token and counts against the same limit).
    pub fn run_key(&self) -> Option<String> {
        match self {
            Event::InviteCreated(e) => Some(format!("invite:{}", e.id.as_str())),
            Event::PasswordReset(PasswordReset::User(r)) => {
                Some(format!("reset:{}", r.email.as_str().to_lowercase()))
            }
            _ => None,
        }
    }
}

/// Applies a run of set-based events (see [`Event::runs_set_based`]), each
/// already recorded as new, none sharing a [`Event::run_key`]: one
/// statement for the invites, two for the resets' limit, one to invalidate
/// older reset tokens, one for the new ones, one for the emails. Returns
/// how each is forwarded, in order.
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
    let resets: Vec<(&Meta<'_>, &UserReset)> = run
        .iter()
        .filter_map(|(meta, event)| match event {
            Event::PasswordReset(PasswordReset::User(r)) => Some((meta, r)),
            _ => None,
        })
        .collect();
    let recipients: Vec<&EmailAddress> = resets.iter().map(|(_, r)| &r.email).collect();
    let within = within_limits(conn, ctx.email_rate_limit, &recipients).await?;
    let mut reset_rows = Vec::with_capacity(resets.len());
    for (meta, reset) in resets {
        if within.contains(&reset.email.as_str().to_lowercase()) {
            reset_rows.push(reset.row(meta, ctx));
        } else {
            reset.over_limit(conn, meta, ctx).await?;
        }
    }
    if !reset_rows.is_empty() {
        let addresses: Vec<&str> = reset_rows.iter().map(ResetRow::address).collect();
        invalidate(conn, &addresses).await?;
        insert_tokens(conn, &reset_rows).await?;
    }
    let mut emails: Vec<_> = reset_rows.iter().map(ResetRow::email).collect();
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
