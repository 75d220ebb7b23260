use super::invite_email::InviteEmail;
use super::{Context, Meta};
use crate::domain::{EmailAddress, ExpiresAt, Id, InviteStatus, Token};
use crate::error::{HandleError, Rejection};
use crate::store::{EmailTemplate, insert_email};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct InviteResent {
    pub id: Id,
    pub token: Option<Token>,
    pub expires_at: Option<ExpiresAt>,
}

impl InviteResent {
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        resend(
            conn,
            meta,
            ctx,
            &self.id,
            self.token.clone(),
            self.expires_at,
        )
        .await
    }
}

#[derive(sqlx::FromRow)]
struct Rotated {
    email: String,
    named_role: Option<String>,
    first_name: Option<String>,
    invited_by: Option<String>,
    locale: Option<String>,
}

/// Rotates the invite's token (the old one stops working), sets its expiry
/// (the given one, else now + `HERALD_INVITE_TTL`) and queues the invite
/// email again. Only a pending invite can be resent; an unknown one is
/// rejected, since there is no address to send to.
pub(super) async fn resend(
    conn: &mut PgConnection,
    meta: &Meta<'_>,
    ctx: &Context,
    id: &Id,
    token: Option<Token>,
    expires_at: Option<ExpiresAt>,
) -> Result<(), HandleError> {
    let token = token.unwrap_or_else(Token::mint);
    let expires_at: DateTime<Utc> =
        expires_at.map_or_else(|| Utc::now() + ctx.invite_ttl, ExpiresAt::at);
    let rotated: Option<Rotated> = sqlx::query_as(
        "UPDATE invites SET token_hash = $2, expires_at = $3, updated_at = now()
         WHERE id = $1 AND status = 'pending'
         RETURNING email, named_role, first_name, invited_by, locale",
    )
    .bind(id.as_str())
    .bind(token.hash().as_bytes())
    .bind(expires_at)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(invite) = rotated else {
        let status: Option<InviteStatus> =
            sqlx::query_scalar("SELECT status FROM invites WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await?;
        return Err(Rejection::new(match status {
            None => format!("unknown invite {:?}", id.as_str()),
            Some(s) => format!(
                "invite {:?} is {s}, only a pending invite can be resent",
                id.as_str()
            ),
        })
        .into());
    };
    let recipient = EmailAddress::parse(&invite.email)
        .map_err(|e| HandleError::Transient(anyhow::anyhow!(e)))?;
    let data = InviteEmail {
        invite_id: id.as_str(),
        email: &invite.email,
        role: invite.named_role.as_deref(),
        first_name: invite.first_name.as_deref(),
        invited_by: invite.invited_by.as_deref(),
        expires_at,
    }
    .data();
    let email = meta.email(
        EmailTemplate::Invite,
        &recipient,
        invite.locale.as_deref(),
        data,
        Some(&token),
    );
    insert_email(conn, &ctx.key, email).await?;
    Ok(())
}
