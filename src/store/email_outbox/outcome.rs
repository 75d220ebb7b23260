use super::EmailStatus;
use crate::store::announce::Announcement;
use serde_json::json;
use uuid::Uuid;

/// An email's final state, as `email.sent` or `email.failed` tell it. The
/// template and recipient are the row's text as stored: a row this Herald
/// could not read ends `failed` and is announced too.
#[derive(Debug, sqlx::FromRow)]
pub struct EmailOutcome {
    pub id: Uuid,
    pub event_id: String,
    pub template: String,
    pub recipient: String,
    /// Final, or `pending` for a row that was only moved on.
    pub status: EmailStatus,
    pub attempts: i32,
    /// The last SMTP code the server gave for it, if any.
    pub smtp_code: Option<i32>,
}

impl EmailOutcome {
    pub fn announcement(&self) -> Announcement {
        let event_type = if self.status == EmailStatus::Sent {
            "email.sent"
        } else {
            "email.failed"
        };
        Announcement {
            event_type,
            data: json!({
                "id": self.id,
                "event_id": self.event_id,
                "template": self.template,
                "recipient": self.recipient,
                "status": self.status,
                "attempts": self.attempts,
                "smtp_code": self.smtp_code,
            }),
        }
    }
}
