//! One file per event kind: each parses its `data` into typed fields and
//! applies it inside the transaction it is handed, the same transaction that
//! records the event id.

mod envelope;
mod invite_accepted;
mod invite_created;
mod invite_deleted;
mod invite_email;
mod invite_resent;
mod password_reset;
mod set;
mod user_created;
mod user_deleted;

use crate::error::{HandleError, Rejection};
use crate::store::{self, SecretKey};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sqlx::PgConnection;

pub use envelope::{Envelope, Incoming, MAX_BODY_BYTES};
pub use invite_accepted::InviteAccepted;
pub use invite_created::InviteCreated;
pub use invite_deleted::InviteDeleted;
pub use invite_resent::InviteResent;
pub use password_reset::PasswordReset;
pub use set::{Forward, apply_run};
pub use user_created::UserCreated;
pub use user_deleted::{UserDeleted, UserRef};

/// The routing keys Herald's queue is bound to.
pub const EVENT_TYPES: [&str; 9] = [
    "invite.created",
    "invite.resent",
    "invite.accepted",
    "invite.deleted",
    "user.password_reset",
    "auth.password_reset",
    "user.created",
    "user.updated",
    "user.deleted",
];

/// What every handler needs besides its data.
#[derive(Clone, Debug)]
pub struct Context {
    pub invite_ttl: chrono::Duration,
    pub reset_ttl: chrono::Duration,
    pub key: SecretKey,
    /// `HERALD_EMAIL_RATE_LIMIT`: reset requests over it change nothing.
    pub email_rate_limit: crate::settings::RateLimit,
}

#[derive(Debug)]
pub enum Event {
    InviteCreated(InviteCreated),
    InviteResent(InviteResent),
    InviteAccepted(InviteAccepted),
    InviteDeleted(InviteDeleted),
    PasswordReset(PasswordReset),
    UserCreated(UserCreated),
    /// Nothing to store; forwarded by webhook only.
    UserUpdated(UserRef),
    UserDeleted(UserDeleted),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Processed,
    Duplicate,
}

impl Event {
    pub fn parse(envelope: &Envelope) -> Result<Self, Rejection> {
        let data = envelope.data.clone();
        let ty = envelope.event_type.as_str();
        Ok(match ty {
            "invite.created" => Event::InviteCreated(InviteCreated::parse(ty, data)?),
            "invite.resent" => Event::InviteResent(parse_data(ty, data)?),
            "invite.accepted" => Event::InviteAccepted(parse_data(ty, data)?),
            "invite.deleted" => Event::InviteDeleted(parse_data(ty, data)?),
            "user.password_reset" | "auth.password_reset" => {
                Event::PasswordReset(PasswordReset::parse(ty, data)?)
            }
            "user.created" => Event::UserCreated(parse_data(ty, data)?),
            "user.updated" => Event::UserUpdated(parse_data(ty, data)?),
            "user.deleted" => Event::UserDeleted(parse_data(ty, data)?),
            other => return Err(Rejection::new(format!("unknown event type {other:?}"))),
        })
    }

    /// The event's effects alone, for a caller that has recorded its id
    /// (the batch records a window's ids in one statement).
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        match self {
            Event::InviteCreated(e) => e.apply(conn, meta, ctx).await,
            Event::InviteResent(e) => e.apply(conn, meta, ctx).await,
            Event::InviteAccepted(e) => e.apply(conn).await,
            Event::InviteDeleted(e) => e.apply(conn).await,
            Event::PasswordReset(e) => e.apply(conn, meta, ctx).await,
            Event::UserCreated(e) => e.apply(conn, meta, ctx).await,
            Event::UserUpdated(_) => Ok(()),
            Event::UserDeleted(e) => e.apply(conn, meta).await,
        }
    }
}

impl Envelope {
    /// What the dedupe records of this event: for an invite event, the
    /// invite's id too, so the delivery log finds a person's invite events.
    pub fn processed(&self) -> store::ProcessedEvent<'_> {
        let invite_id = match self.event_type.starts_with("invite.") {
            true => self.data.get("id").and_then(Value::as_str),
            false => None,
        };
        store::ProcessedEvent {
            id: &self.id,
            event_type: &self.event_type,
            time: self.time,
            invite_id,
        }
    }
}

/// Envelope facts a handler may need.
pub struct Meta<'a> {
    pub envelope: &'a Envelope,
    pub time: DateTime<Utc>,
}

impl<'a> Meta<'a> {
    /// The envelope's facts, its time defaulting to now (taken once, so the
    /// email and the webhook of one event carry the same time).
    pub fn of(envelope: &'a Envelope) -> Self {
        Meta {
            envelope,
            time: envelope.time.unwrap_or_else(Utc::now),
        }
    }

    /// The outbox row for an email this event causes.
    pub fn email(
        &self,
        template: store::EmailTemplate,
        recipient: &'a crate::domain::EmailAddress,
        locale: Option<&'a str>,
        data: Value,
        token: Option<&'a crate::domain::Token>,
    ) -> store::NewEmail<'a> {
        store::NewEmail {
            event_id: &self.envelope.id,
            event_time: self.time,
            template,
            recipient,
            locale,
            data,
            token,
            counted: false,
        }
    }
}

/// Records the event id and applies the event inside the caller's
/// transaction (or savepoint), which must roll back on an error. The caller
/// forwards a processed event (`webhooks::fan_out`) in the same transaction.
pub async fn apply(
    conn: &mut PgConnection,
    ctx: &Context,
    meta: &Meta<'_>,
    event: &Event,
) -> Result<Outcome, HandleError> {
    let envelope = meta.envelope;
    if !store::record_event(conn, envelope.processed()).await? {
        return Ok(Outcome::Duplicate);
    }
    event.apply(conn, meta, ctx).await?;
    Ok(Outcome::Processed)
}

/// Deserializes a kind's `data`; a refusal names the field it is about
/// (`invite.created data: user_id: must be 1 to 255 bytes long, not 8192`).
fn parse_data<T: DeserializeOwned>(
    event_type: &str,
    data: Map<String, Value>,
) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(Value::Object(data))
        .map_err(|e| Rejection::new(format!("{event_type} data: {}", clip(&e.to_string()))))
}

/// serde quotes a mistyped string whole (`invalid type: string "…"`); a
/// reason travels in an AMQP header, so it is cut to a readable length.
fn clip(reason: &str) -> String {
    const MAX_CHARS: usize = 300;
    match reason.char_indices().nth(MAX_CHARS) {
        Some((at, _)) => format!("{}…", &reason[..at]),
        None => reason.to_owned(),
    }
}
