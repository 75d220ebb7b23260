//! `POST /v1/emails/{id}/resend`, `herald emails resend ID`: the email again,
//! through the same handler as the event that would cause it, under an event
//! id of its own (`resend-…`), recorded like any processed event so the
//! delivery log and the search by address find it:
//! - an invite: `invite.resent` (the token rotates, the old link stops
//!   working, the expiry starts again), refused while the invite is not
//!   pending;
//! - a password reset: `user.password_reset` (a fresh token, older ones
//!   invalidated; the per-recipient limit applies, as for any reset);
//! - a welcome email: `user.created` (queued again).
//!
//! An email still pending is not resent: the new token would kill its link
//! before it goes out. Nothing is forwarded by webhook: no event arrived.

use crate::domain::EventId;
use crate::error::HandleError;
use crate::events::{self, Context, Envelope, Event, Meta};
use crate::store;
use crate::store::email_outbox::{Email, EmailStatus, EmailTemplate, Original, read};
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    #[error("no email {0}")]
    NotFound(Uuid),
    /// The email cannot be sent again (its invite was accepted or revoked).
    #[error("{0}")]
    Refused(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// Queues the email `id` again as its kind's event would; returns the new email.
pub async fn resend(pool: &PgPool, ctx: &Context, id: Uuid) -> Result<Email, ResendError> {
    let mut tx = pool.begin().await?;
    let original = read::original(&mut tx, id)
        .await?
        .ok_or(ResendError::NotFound(id))?
        .map_err(ResendError::Refused)?;
    if original.status == EmailStatus::Pending {
        // Its link would die with the resend's new token before it is sent.
        return Err(ResendError::Refused(format!(
            "email {id} is still pending (being sent or retried); resend it once it has ended"
        )));
    }
    let (event_type, data) = match original.template {
        EmailTemplate::Invite => ("invite.resent", invite_data(&mut tx, &original).await?),
        EmailTemplate::PasswordReset => ("user.password_reset", reset_data(&original)),
        EmailTemplate::Welcome => ("user.created", welcome_data(&original)?),
    };
    let envelope = Envelope {
        id: EventId::parse(&format!("resend-{}", Uuid::now_v7())).expect("a valid event id"),
        event_type: event_type.to_owned(),
        time: Some(chrono::Utc::now()),
        data,
    };
    let event = Event::parse(&envelope).map_err(|r| ResendError::Refused(r.0))?;
    match events::apply(&mut tx, ctx, &Meta::of(&envelope), &event).await {
        Ok(_) => {}
        Err(HandleError::Reject(r)) => return Err(ResendError::Refused(r.0)),
        Err(HandleError::Transient(e)) => return Err(ResendError::Failed(e)),
    }
    let email = read::first_of_event(&mut tx, envelope.id.as_str())
        .await?
        .ok_or_else(|| ResendError::Failed(anyhow::anyhow!("the resend queued no email")))?;
    store::wake::notify(&mut tx, store::EMAIL_WAKE_CHANNEL).await?;
    tx.commit().await?;
    metrics::counter!("herald_email_resends_total", "template" => original.template.as_str())
        .increment(1);
    tracing::info!(email.id = %id, resent.id = %email.id, event.id = %envelope.id, "email resent");
    Ok(email)
}

/// `{id}` of the invite, which must still be pending (locked until commit,
/// so an accept cannot slip in between).
async fn invite_data(
    conn: &mut PgConnection,
    original: &Original,
) -> Result<Map<String, Value>, ResendError> {
    let invite_id = original.data["invite_id"]
        .as_str()
        .ok_or_else(|| ResendError::Refused("this invite email names no invite".into()))?;
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM invites WHERE id = $1 FOR UPDATE")
            .bind(invite_id)
            .fetch_optional(&mut *conn)
            .await?;
    match status.as_deref() {
        Some("pending") => Ok(object(json!({ "id": invite_id }))),
        Some(status) => Err(ResendError::Refused(format!(
            "invite {invite_id:?} is {status}; only a pending invite can be resent"
        ))),
        None => Err(ResendError::Refused(format!(
            "invite {invite_id:?} is no longer held"
        ))),
    }
}

fn reset_data(original: &Original) -> Map<String, Value> {
    let d = &original.data;
    object(json!({
        "email": original.recipient,
        "user_id": d["user_id"],
        "first_name": d["first_name"],
        "last_name": d["last_name"],
        "locale": original.locale,
    }))
}

fn welcome_data(original: &Original) -> Result<Map<String, Value>, ResendError> {
    let d = &original.data;
    if !d["user_id"].is_string() {
        return Err(ResendError::Refused(
            "this welcome email names no user".into(),
        ));
    }
    Ok(object(json!({
        "id": d["user_id"],
        "email": original.recipient,
        "first_name": d["first_name"],
        "last_name": d["last_name"],
        "locale": original.locale,
    })))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// What a resend's handlers need, from the settings `run` (and the CLI) take.
pub fn context(
    lifetimes: &crate::settings::Lifetimes,
    keys: &crate::settings::Keys,
    email_rate_limit: crate::settings::RateLimit,
) -> anyhow::Result<Context> {
    use anyhow::Context as _;
    Ok(Context {
        invite_ttl: chrono::Duration::from_std(lifetimes.invite_ttl)
            .context("HERALD_INVITE_TTL: too long")?,
        reset_ttl: chrono::Duration::from_std(lifetimes.reset_ttl)
            .context("HERALD_RESET_TTL: too long")?,
        key: keys.secret_key()?,
        email_rate_limit,
    })
}
