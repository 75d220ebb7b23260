use super::{Context, Meta};
use crate::domain::{EmailAddress, Id, Locale, Name};
use crate::error::HandleError;
use crate::store::{EmailTemplate, NewEmail, insert_email};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

/// Medusa v1 and bare v2 send `{id}` only; Herald's Medusa plugin adds the
/// user's email and names.
#[derive(Debug, Deserialize)]
pub struct UserCreated {
    pub id: Id,
    pub email: Option<EmailAddress>,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub locale: Option<Locale>,
}

impl UserCreated {
    /// Queues the welcome email when the event names an address.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        if let Some(email) = self.email(meta) {
            insert_email(conn, &ctx.key, email).await?;
        }
        Ok(())
    }

    /// The welcome email's outbox row, when the event names an address.
    pub(super) fn email<'m>(&'m self, meta: &Meta<'m>) -> Option<NewEmail<'m>> {
        let recipient = self.email.as_ref()?;
        let data = json!({
            "user_id": self.id.as_str(),
            "email": recipient,
            "first_name": self.first_name,
            "last_name": self.last_name,
        });
        Some(meta.email(
            EmailTemplate::Welcome,
            recipient,
            self.locale.as_ref().map(Locale::as_str),
            data,
            None,
        ))
    }
}
