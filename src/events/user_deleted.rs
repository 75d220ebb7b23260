use super::Meta;
use crate::domain::EmailAddress;
use crate::domain::Id;
use crate::error::HandleError;
use serde::Deserialize;
use sqlx::PgConnection;

/// `user.updated` carries only the user's id as far as Herald is concerned.
#[derive(Debug, Deserialize)]
pub struct UserRef {
    pub id: Id,
}

#[derive(Debug, Deserialize)]
pub struct UserDeleted {
    pub id: Id,
    pub email: Option<EmailAddress>,
}

impl UserDeleted {
    /// The user's unused reset tokens stop working, matched by user id and,
    /// when given, by address (tokens minted from an email-only request).
    /// With an address, the user's erasure is queued: once nothing about
    /// them is pending, every row holding their data goes (`store::erasure`).
    pub async fn apply(&self, conn: &mut PgConnection, meta: &Meta<'_>) -> Result<(), HandleError> {
        sqlx::query(
            "UPDATE password_reset_tokens SET invalidated_at = now()
             WHERE used_at IS NULL AND invalidated_at IS NULL
               AND (user_id = $1 OR ($2::text IS NOT NULL AND lower(email) = lower($2)))",
        )
        .bind(self.id.as_str())
        .bind(self.email.as_ref().map(EmailAddress::as_str))
        .execute(&mut *conn)
        .await?;
        if let Some(email) = &self.email {
            crate::store::erasure::request(conn, &meta.envelope.id, &self.id, email).await?;
        }
        Ok(())
    }
}
