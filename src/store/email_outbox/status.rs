use crate::domain::text_enum;

text_enum! {
    /// Where an email stands: `pending` while it waits, then one of the four
    /// final states (the `email_outbox.status` column, whose CHECK allows
    /// these five).
    #[derive(utoipa::ToSchema)]
    pub enum EmailStatus as "email status" {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
        Dropped = "dropped",
        Expired = "expired",
    }
}

#[cfg(test)]
mod tests {
    use super::EmailStatus;

    #[test]
    fn names_round_trip_and_match_serde() {
        for (&status, &name) in EmailStatus::ALL.iter().zip(EmailStatus::WORDS) {
            assert_eq!(status.as_str(), name);
            assert_eq!(name.parse::<EmailStatus>().unwrap(), status);
            assert_eq!(serde_json::to_value(status).unwrap(), name);
        }
        assert!("Sent".parse::<EmailStatus>().is_err());
    }
}
