//! What the `invite` email's template sees, the same for a first invite and
//! for a resend.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub struct InviteEmail<'a> {
    pub invite_id: &'a str,
    pub email: &'a str,
    /// `None` when the event named no role: the email then claims none.
    pub role: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub invited_by: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

impl InviteEmail<'_> {
    pub fn data(&self) -> Value {
        json!({
            "invite_id": self.invite_id,
            "email": self.email,
            "role": self.role,
            "first_name": self.first_name,
            "invited_by": self.invited_by,
            "expires_at": self.expires_at,
        })
    }
}
