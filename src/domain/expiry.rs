use chrono::{DateTime, Utc};
use serde::Deserialize;

/// When an upstream token stops working (`expires_at`), as RFC 3339 (Medusa
/// sends `2026-12-02T10:00:00.000Z`). A time already past is refused: a
/// link that is dead on arrival would only frustrate its reader, and a dead
/// letter tells the operator why no email went out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ExpiresAt(DateTime<Utc>);

impl ExpiresAt {
    pub fn at(self) -> DateTime<Utc> {
        self.0
    }

    pub fn parse(raw: &str, now: DateTime<Utc>) -> Result<Self, String> {
        let at = DateTime::parse_from_rfc3339(raw.trim())
            .map_err(|e| format!("{} is not an RFC 3339 time: {e}", quote(raw)))?
            .with_timezone(&Utc);
        if at <= now {
            return Err(format!(
                "{} is already past: the link would be dead on arrival",
                at.to_rfc3339()
            ));
        }
        Ok(Self(at))
    }
}

impl TryFrom<String> for ExpiresAt {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value, Utc::now())
    }
}

/// The value for an error message, unless it is too long to be useful there.
fn quote(raw: &str) -> String {
    if raw.len() <= 64 {
        format!("{raw:?}")
    } else {
        format!("a {}-byte value", raw.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn future_rfc3339_times_only() {
        let now = "2026-12-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = ExpiresAt::parse("2026-12-02T10:00:00.000Z", now).unwrap();
        assert_eq!(at.at(), now + chrono::Duration::days(1));
        let offset = ExpiresAt::parse("2026-12-01T12:00:00+01:00", now).unwrap();
        assert_eq!(offset.at(), now + chrono::Duration::hours(1));
        let past = ExpiresAt::parse("2026-12-01T09:59:59Z", now).unwrap_err();
        assert!(past.contains("already past"), "{past}");
        let junk = ExpiresAt::parse("next tuesday", now).unwrap_err();
        assert!(junk.contains("RFC 3339"), "{junk}");
        let long = ExpiresAt::parse(&"9".repeat(500), now).unwrap_err();
        assert!(
            long.contains("500-byte") && !long.contains("9999"),
            "{long}"
        );
    }
}
