use serde::Deserialize;

/// A person's name, or who sent an invite: shown in emails and stored in
/// text and jsonb columns, so bounded, with no NUL (PostgreSQL refuses it)
/// nor other control characters. Line breaks and tabs are folded into one
/// space rather than refused: they have no place in a subject line, but they
/// are no reason to withhold someone's invite.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 256;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let chars = value.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(format!(
                "is {chars} characters long, more than the {} accepted",
                Self::MAX_CHARS
            ));
        }
        if value.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err("contains control characters".into());
        }
        Ok(Self(value.split_whitespace().collect::<Vec<_>>().join(" ")))
    }
}

impl From<Name> for String {
    fn from(value: Name) -> Self {
        value.0
    }
}

/// A language tag such as `fr` or `pt-BR`: it picks a template variant and
/// is stored with the invite and the email.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Locale(String);

impl Locale {
    /// The longest tag BCP 47 implementations must handle.
    pub const MAX_LEN: usize = 35;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Locale {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let tag = value.trim();
        let valid = !tag.is_empty()
            && tag.len() <= Self::MAX_LEN
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "must be a language tag such as fr or pt-BR: 1 to {} letters, digits, - or _",
                Self::MAX_LEN
            ));
        }
        Ok(Self(tag.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(Name::try_from(" Ada ".to_owned()).unwrap().as_str(), "Ada");
        assert!(Name::try_from("é".repeat(256)).is_ok());
        let long = Name::try_from("x".repeat(257)).unwrap_err();
        assert!(long.contains("257"), "{long}");
        let folded = Name::try_from("Eve\r\nBcc:\t spy".to_owned()).unwrap();
        assert_eq!(folded.as_str(), "Eve Bcc: spy");
        for bad in ["a\0b", "\u{1b}[31m", "x\u{7f}"] {
            assert!(Name::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn locales_are_short_tags() {
        for ok in ["fr", "pt-BR", "zh_Hant_TW"] {
            assert_eq!(Locale::try_from(ok.to_owned()).unwrap().as_str(), ok);
        }
        for bad in ["", "fr\0", "fr/../../etc", &"a".repeat(36)] {
            assert!(Locale::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
