use serde::{Deserialize, Serialize};
use sqlx::Postgres;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use std::fmt;
use std::str::FromStr;
use utoipa::ToSchema;

/// Where an email stands: `pending` while it waits, then one of the four
/// final states (the `email_outbox.status` column, whose CHECK allows these
/// five). Stored as its name in a TEXT column, so it binds and decodes as
/// text: no PostgreSQL type of its own to look up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatus {
    Pending,
    Sent,
    Failed,
    Dropped,
    Expired,
}

impl EmailStatus {
    pub const ALL: [EmailStatus; 5] = [
        EmailStatus::Pending,
        EmailStatus::Sent,
        EmailStatus::Failed,
        EmailStatus::Dropped,
        EmailStatus::Expired,
    ];
    /// The names, in the order of [`EmailStatus::ALL`].
    pub const NAMES: [&'static str; 5] = [
        EmailStatus::Pending.name(),
        EmailStatus::Sent.name(),
        EmailStatus::Failed.name(),
        EmailStatus::Dropped.name(),
        EmailStatus::Expired.name(),
    ];

    pub const fn name(self) -> &'static str {
        match self {
            EmailStatus::Pending => "pending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
            EmailStatus::Dropped => "dropped",
            EmailStatus::Expired => "expired",
        }
    }
}

impl FromStr for EmailStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.name() == s)
            .ok_or_else(|| format!("no email status {s:?}"))
    }
}

impl fmt::Display for EmailStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl sqlx::Type<Postgres> for EmailStatus {
    fn type_info() -> PgTypeInfo {
        <&str as sqlx::Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as sqlx::Type<Postgres>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for EmailStatus {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(<&str as sqlx::Decode<Postgres>>::decode(value)?.parse()?)
    }
}

impl sqlx::Encode<'_, Postgres> for EmailStatus {
    fn encode_by_ref(
        &self,
        buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<Postgres>>::encode_by_ref(&self.name(), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailStatus;

    #[test]
    fn names_round_trip_and_match_serde() {
        for (status, name) in EmailStatus::ALL.into_iter().zip(EmailStatus::NAMES) {
            assert_eq!(status.name(), name);
            assert_eq!(name.parse::<EmailStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), name);
        }
        assert!("Sent".parse::<EmailStatus>().is_err());
    }
}
