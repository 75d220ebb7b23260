use super::text_enum::text_enum;

text_enum! {
    /// An invite's `status`. `expired` is never stored: it is how a reader
    /// sees a pending invite past its `expires_at` (the reading statement
    /// says so, with the database's clock).
    #[derive(utoipa::ToSchema)]
    pub enum InviteStatus as "invite status" {
        Pending = "pending",
        Accepted = "accepted",
        Expired = "expired",
        Revoked = "revoked",
    }
}
