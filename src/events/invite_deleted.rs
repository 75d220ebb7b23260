use crate::domain::Id;
use crate::error::HandleError;
use serde::Deserialize;
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct InviteDeleted {
    pub id: Id,
}

impl InviteDeleted {
    /// Revokes a pending invite: its token stops working. An accepted invite
    /// stays accepted (as `DELETE /v1/invites/{id}` refuses to revoke one).
    ///
    /// An id Herald never saw changes nothing and is still forwarded by
    /// webhook, not dead-lettered: Medusa deletes invites created before the
    /// store was connected to Herald, or whose event Herald dead-lettered,
    /// and a dead letter there would be noise no operator can act on.
    pub async fn apply(&self, conn: &mut PgConnection) -> Result<(), HandleError> {
        sqlx::query(
            "UPDATE invites SET status = 'revoked', revoked_at = now(), updated_at = now()
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(self.id.as_str())
        .execute(conn)
        .await?;
        Ok(())
    }
}
