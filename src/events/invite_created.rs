use super::invite_email::InviteEmail;
use super::{Context, Meta, invite_resent, parse_data};
use crate::domain::{EmailAddress, ExpiresAt, Id, Locale, Metadata, Name, Role, Token};
use crate::error::{HandleError, Rejection};
use crate::store::{EmailTemplate, insert_email};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;

#[derive(Debug)]
pub struct InviteCreated {
    pub id: Id,
    pub email: EmailAddress,
    pub role: Option<Role>,
    pub token: Option<Token>,
    pub expires_at: Option<ExpiresAt>,
    pub first_name: Option<Name>,
    pub invited_by: Option<Name>,
    pub locale: Option<Locale>,
    pub metadata: Metadata,
}

/// `data` as sent: `email` or Medusa v1's `user_email`, either may be given.
#[derive(Deserialize)]
struct Data {
    id: Id,
    email: Option<EmailAddress>,
    user_email: Option<EmailAddress>,
    role: Option<Role>,
    token: Option<Token>,
    expires_at: Option<ExpiresAt>,
    first_name: Option<Name>,
    invited_by: Option<Name>,
    locale: Option<Locale>,
    metadata: Option<Metadata>,
}

impl InviteCreated {
    pub fn parse(event_type: &str, data: Map<String, Value>) -> Result<Self, Rejection> {
        let given = |key: &str| data.get(key).is_some_and(|v| !v.is_null());
        if !given("email") && !given("user_email") {
            // Medusa v2's workflows emit `invite.created` as `{id}` alone.
            return Err(Rejection::new(format!(
                "{event_type} data: missing field `email`, so no invite can be sent: Medusa v2 \
                 emits invites as {{id}} only, and Herald's Medusa plugin (integrations/medusa) \
                 adds the email, token and expiry before publishing"
            )));
        }
        let d: Data = parse_data(event_type, data)?;
        Ok(Self {
            id: d.id,
            email: d.email.or(d.user_email).expect("checked above"),
            role: d.role,
            token: d.token,
            expires_at: d.expires_at,
            first_name: d.first_name,
            invited_by: d.invited_by,
            locale: d.locale,
            metadata: d.metadata.unwrap_or_default(),
        })
    }

    /// Records the invite with a fresh token (or the one given upstream) and
    /// queues its email. For an invite id Herald already holds, see `held`.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let token = self.token.clone().unwrap_or_else(Token::mint);
        let expires_at = self
            .expires_at
            .map_or_else(|| meta.time.max(Utc::now()) + ctx.invite_ttl, ExpiresAt::at);
        let role = self.role.map(Role::as_str);
        let inserted = sqlx::query(
            "INSERT INTO invites (id, email, named_role, token_hash, first_name, invited_by, locale, metadata, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(self.id.as_str())
        .bind(self.email.as_str())
        .bind(role)
        .bind(token.hash().as_bytes())
        .bind(self.first_name.as_ref().map(Name::as_str))
        .bind(self.invited_by.as_ref().map(Name::as_str))
        .bind(self.locale.as_ref().map(Locale::as_str))
        .bind(self.metadata.clone().into_value())
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            return self.held(conn, meta, ctx).await;
        }
        let data = InviteEmail {
            invite_id: self.id.as_str(),
            email: self.email.as_str(),
            role,
            first_name: self.first_name.as_ref().map(Name::as_str),
            invited_by: self.invited_by.as_ref().map(Name::as_str),
            expires_at,
        }
        .data();
        let locale = self.locale.as_ref().map(Locale::as_str);
        let email = meta.email(
            EmailTemplate::Invite,
            &self.email,
            locale,
            data,
            Some(&token),
        );
        insert_email(conn, &ctx.key, email).await?;
        Ok(())
    }

    /// An invite Herald already holds. Medusa v1 resends an invite by
    /// emitting `invite.created` again with the same id and a new token, so a
    /// different given token is a resend; the same token, or none, is a
    /// repeat that changes nothing.
    async fn held(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let Some(token) = &self.token else {
            tracing::info!(invite.id = %self.id.as_str(), "invite already recorded; nothing to send");
            return Ok(());
        };
        let same: bool = sqlx::query_scalar("SELECT token_hash = $2 FROM invites WHERE id = $1")
            .bind(self.id.as_str())
            .bind(token.hash().as_bytes())
            .fetch_one(&mut *conn)
            .await?;
        if same {
            tracing::info!(invite.id = %self.id.as_str(), "invite already recorded with this token; nothing to send");
            return Ok(());
        }
        invite_resent::resend(
            conn,
            meta,
            ctx,
            &self.id,
            Some(token.clone()),
            self.expires_at,
        )
        .await
    }
}
