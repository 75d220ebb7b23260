use serde::Deserialize;

/// An entity id from upstream (invite, user): it is a primary key or an
/// indexed column, so it is bounded well under PostgreSQL's btree row limit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Id(pub String);

impl Id {
    pub const MAX_LEN: usize = 255;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.len() > Self::MAX_LEN {
            return Err(format!(
                "must be 1 to {} bytes long, not {}",
                Self::MAX_LEN,
                trimmed.len()
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("contains control characters".into());
        }
        Ok(Id(trimmed.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Id;

    #[test]
    fn bounded_and_printable() {
        assert_eq!(
            Id::try_from(" inv_1 ".to_owned()).unwrap().as_str(),
            "inv_1"
        );
        assert!(Id::try_from("a".repeat(255)).is_ok());
        let long = Id::try_from("a".repeat(256)).unwrap_err();
        assert!(long.contains("256") && !long.contains("aaaa"), "{long}");
        for bad in ["", "  ", "a\0b", "a\nb", "a\u{7f}"] {
            assert!(Id::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
