use super::{Context, Id, Meta};
use crate::domain::{EmailAddress, Role, Token};
use crate::error::HandleError;
use crate::store::{EmailTemplate, insert_email};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct InviteCreated {
    pub id: Id,
    #[serde(alias = "user_email")]
    pub email: EmailAddress,
    #[serde(default)]
    pub role: Option<Role>,
    pub token: Option<Token>,
    pub first_name: Option<String>,
    pub invited_by: Option<String>,
    pub locale: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

impl InviteCreated {
    /// Records the invite with a fresh token (or the one given upstream) and
    /// queues its email. An invite id Herald already holds changes nothing.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let token = self.token.clone().unwrap_or_else(Token::mint);
        let role = self.role.unwrap_or_default();
        let expires_at = meta.time.max(chrono::Utc::now()) + ctx.invite_ttl;
        let inserted = sqlx::query(
            "INSERT INTO invites (id, email, role, token_hash, first_name, invited_by, locale, metadata, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&self.id.0)
        .bind(self.email.as_str())
        .bind(role.as_str())
        .bind(token.hash().as_bytes())
        .bind(&self.first_name)
        .bind(&self.invited_by)
        .bind(&self.locale)
        .bind(Value::Object(self.metadata.clone().unwrap_or_default()))
        .bind(expires_at)
        .execute(&mut *conn)
        .await?;
        if inserted.rows_affected() == 0 {
            tracing::info!(invite.id = %self.id.0, "invite already recorded; nothing to send");
            return Ok(());
        }
        let data = json!({
            "invite_id": self.id.0,
            "email": self.email,
            "role": role,
            "first_name": self.first_name,
            "invited_by": self.invited_by,
            "expires_at": expires_at,
        });
        let email = meta.email(
            EmailTemplate::Invite,
            &self.email,
            self.locale.as_deref(),
            data,
            Some(&token),
        );
        insert_email(conn, &ctx.key, email).await?;
        Ok(())
    }
}
