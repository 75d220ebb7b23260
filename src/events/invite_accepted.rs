use crate::domain::Id;
use crate::error::HandleError;
use serde::Deserialize;
use sqlx::PgConnection;

#[derive(Debug, Deserialize)]
pub struct InviteAccepted {
    pub id: Id,
}

impl InviteAccepted {
    /// Marks the invite accepted if it is still pending; otherwise (already
    /// accepted, revoked, or never seen here) there is nothing to change.
    pub async fn apply(&self, conn: &mut PgConnection) -> Result<(), HandleError> {
        sqlx::query(
            "UPDATE invites SET status = 'accepted', accepted_at = now(), updated_at = now()
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(self.id.as_str())
        .execute(conn)
        .await?;
        Ok(())
    }
}
