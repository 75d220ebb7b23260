use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// Which email a row is: the `email_outbox.template` column, and the
/// directory of its templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailTemplate {
    Invite,
    PasswordReset,
    Welcome,
}

impl EmailTemplate {
    pub const ALL: [EmailTemplate; 3] = [
        EmailTemplate::Invite,
        EmailTemplate::PasswordReset,
        EmailTemplate::Welcome,
    ];
    /// The names, in the order of [`EmailTemplate::ALL`].
    pub const NAMES: [&'static str; 3] = [
        EmailTemplate::Invite.name(),
        EmailTemplate::PasswordReset.name(),
        EmailTemplate::Welcome.name(),
    ];

    pub const fn name(self) -> &'static str {
        match self {
            EmailTemplate::Invite => "invite",
            EmailTemplate::PasswordReset => "password_reset",
            EmailTemplate::Welcome => "welcome",
        }
    }
}

impl FromStr for EmailTemplate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!(
                    "no template named {s:?} (this Herald knows {})",
                    Self::NAMES.join(", ")
                )
            })
    }
}

impl fmt::Display for EmailTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::EmailTemplate;

    #[test]
    fn names_round_trip_and_match_serde() {
        for (template, name) in EmailTemplate::ALL.into_iter().zip(EmailTemplate::NAMES) {
            assert_eq!(template.name(), name);
            assert_eq!(name.parse::<EmailTemplate>(), Ok(template));
            assert_eq!(serde_json::to_value(template).unwrap(), name);
        }
        let err = "newsletter".parse::<EmailTemplate>().unwrap_err();
        assert!(err.contains("\"newsletter\""), "{err}");
    }
}
