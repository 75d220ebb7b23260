use crate::domain::text_enum;

text_enum! {
    /// Which email a row is: the `email_outbox.template` column, and the
    /// directory of its templates.
    #[derive(utoipa::ToSchema)]
    pub enum EmailTemplate as "template" {
        Invite = "invite",
        PasswordReset = "password_reset",
        Welcome = "welcome",
    }
}

#[cfg(test)]
mod tests {
    use super::EmailTemplate;

    #[test]
    fn names_round_trip_and_match_serde() {
        for (&template, &name) in EmailTemplate::ALL.iter().zip(EmailTemplate::WORDS) {
            assert_eq!(template.as_str(), name);
            assert_eq!(name.parse::<EmailTemplate>().unwrap(), template);
            assert_eq!(serde_json::to_value(template).unwrap(), name);
        }
    }

    #[test]
    fn an_unknown_name_is_told_with_the_known_ones() {
        let err = "newsletter"
            .parse::<EmailTemplate>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            r#""newsletter" is not a template (one of invite, password_reset, welcome)"#
        );
    }
}
