use super::{Context, Id, Meta};
use crate::domain::{EmailAddress, Token};
use crate::error::{HandleError, Rejection};
use crate::store::{EmailTemplate, insert_email};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct InviteResent {
    pub id: Id,
    pub token: Option<Token>,
}

#[derive(sqlx::FromRow)]
struct Rotated {
    email: String,
    role: String,
    first_name: Option<String>,
    invited_by: Option<String>,
    locale: Option<String>,
    expires_at: DateTime<Utc>,
}

impl InviteResent {
    /// Rotates the token (the old one stops working), resets the expiry and
    /// queues the invite email again. Only a pending invite can be resent.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let token = self.token.clone().unwrap_or_else(Token::mint);
        let expires_at = Utc::now() + ctx.invite_ttl;
        let rotated: Option<Rotated> = sqlx::query_as(
            "UPDATE invites SET token_hash = $2, expires_at = $3, updated_at = now()
             WHERE id = $1 AND status = 'pending'
             RETURNING email, role, first_name, invited_by, locale, expires_at",
        )
        .bind(&self.id.0)
        .bind(token.hash().as_bytes())
        .bind(expires_at)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(invite) = rotated else {
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM invites WHERE id = $1")
                    .bind(&self.id.0)
                    .fetch_optional(&mut *conn)
                    .await?;
            return Err(Rejection::new(match status {
                None => format!("unknown invite {:?}", self.id.0),
                Some(s) => format!(
                    "invite {:?} is {s}, only a pending invite can be resent",
                    self.id.0
                ),
            })
            .into());
        };
        let recipient = EmailAddress::parse(&invite.email)
            .map_err(|e| HandleError::Transient(anyhow::anyhow!(e)))?;
        let data = json!({
            "invite_id": self.id.0,
            "email": invite.email,
            "role": invite.role,
            "first_name": invite.first_name,
            "invited_by": invite.invited_by,
            "expires_at": invite.expires_at,
        });
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
}
