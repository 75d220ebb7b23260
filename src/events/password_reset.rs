use super::{Context, Meta};
use crate::domain::{EmailAddress, Token};
use crate::error::HandleError;
use crate::store::{EmailTemplate, insert_email};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct PasswordReset {
    #[serde(alias = "entity_id")]
    pub email: EmailAddress,
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub token: Option<Token>,
    #[serde(alias = "actorType")]
    pub actor_type: Option<String>,
    pub locale: Option<String>,
}

impl PasswordReset {
    /// Herald emails admin users only; other actors' resets are forwarded
    /// by webhook and nothing else.
    fn is_for_user(&self) -> bool {
        self.actor_type.as_deref().is_none_or(|a| a == "user")
    }

    /// Earlier unused tokens of the same address stop working; a new one is
    /// minted (or the upstream one taken) and its email queued.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        if !self.is_for_user() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE password_reset_tokens SET invalidated_at = now()
             WHERE lower(email) = lower($1) AND used_at IS NULL AND invalidated_at IS NULL",
        )
        .bind(self.email.as_str())
        .execute(&mut *conn)
        .await?;
        let token = self.token.clone().unwrap_or_else(Token::mint);
        let expires_at = Utc::now() + ctx.reset_ttl;
        sqlx::query(
            "INSERT INTO password_reset_tokens (id, email, user_id, token_hash, expires_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(self.email.as_str())
        .bind(&self.user_id)
        .bind(token.hash().as_bytes())
        .bind(expires_at)
        .bind(meta.envelope.id.as_str())
        .execute(&mut *conn)
        .await?;
        let data = json!({
            "email": self.email,
            "user_id": self.user_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "expires_at": expires_at,
            "ttl_minutes": ctx.reset_ttl.num_minutes(),
        });
        let email = meta.email(
            EmailTemplate::PasswordReset,
            &self.email,
            self.locale.as_deref(),
            data,
            Some(&token),
        );
        insert_email(conn, &ctx.key, email).await?;
        Ok(())
    }
}
