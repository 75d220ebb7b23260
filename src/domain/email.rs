use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A syntactically valid address. The domain is lower-cased; the local part is
/// kept as given (it is case-sensitive in principle), and lookups compare
/// `lower(email)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// RFC 5321's limit on a forward path, less its angle brackets. Checked
    /// first, so an oversized value never reaches the index on
    /// `lower(email)` nor is quoted back in the error.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.len() > Self::MAX_LEN {
            return Err(format!(
                "email address is {} bytes long, more than the {} accepted",
                trimmed.len(),
                Self::MAX_LEN
            ));
        }
        // Checked before the parser so a hostile value can never reach a header.
        if trimmed.chars().any(char::is_control) {
            return Err("email address contains control characters".into());
        }
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|e| format!("invalid email address {trimmed:?}: {e}"))?;
        if parsed.display_part() != "" || trimmed.contains('<') {
            return Err(format!(
                "invalid email address {trimmed:?}: expected a bare address"
            ));
        }
        let (local, domain) = (parsed.local_part(), parsed.domain());
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailAddress;

    #[test]
    fn accepts_plain_addresses_and_lowercases_the_domain() {
        let e = EmailAddress::parse(" Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@example.com");
    }

    /// An outbox row's recipient is read back through `parse`, and its
    /// token was sealed to the text as written: both must be the same.
    #[test]
    fn parsing_a_parsed_address_gives_it_back() {
        for raw in [
            " Ada.Lovelace@Example.COM ",
            "\"ada lovelace\"@example.com",
            "ada+tag@sub.example.co.uk",
        ] {
            let once = EmailAddress::parse(raw).unwrap();
            assert_eq!(EmailAddress::parse(once.as_str()).unwrap(), once);
        }
    }

    #[test]
    fn rejects_garbage_and_header_injection() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example.com\r\nBcc: eve@evil.test",
            "Ada <ada@example.com>",
            "ada\0@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        let err = EmailAddress::parse(&long).unwrap_err();
        assert!(err.contains("bytes") && !err.contains("aaaa"), "{err}");
    }
}
