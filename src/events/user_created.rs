use super::{Context, Id, Meta};
use crate::domain::EmailAddress;
use crate::error::HandleError;
use crate::store::{EmailTemplate, insert_email};
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct UserCreated {
    pub id: Id,
    pub email: Option<EmailAddress>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
}

impl UserCreated {
    /// Queues the welcome email when the event names an address.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let Some(recipient) = &self.email else {
            return Ok(());
        };
        let data = json!({
            "user_id": self.id.0,
            "email": recipient,
            "first_name": self.first_name,
            "last_name": self.last_name,
        });
        let email = meta.email(
            EmailTemplate::Welcome,
            recipient,
            self.locale.as_deref(),
            data,
            None,
        );
        insert_email(conn, &ctx.key, email).await?;
        Ok(())
    }
}
