use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;

/// A secret link token. It has no `Display` and its `Debug` is redacted, so it
/// cannot end up in a log line or an error message by accident; the only way
/// to read it is [`Token::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Token(String);

/// What is stored instead of a token: SHA-256 of its text. Tokens Herald mints
/// carry 256 bits of entropy, so a fast hash is enough to make the stored value
/// useless to whoever reads the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

impl Token {
    const MIN_LEN: usize = 16;
    const MAX_LEN: usize = 4096;

    /// 32 bytes from the OS CSPRNG, base64url without padding (43 characters).
    pub fn mint() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token chosen upstream (Medusa mints its own reset tokens). The error
    /// never repeats the value.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() < Self::MIN_LEN || raw.len() > Self::MAX_LEN {
            return Err(format!(
                "token must be {} to {} characters long",
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("token contains whitespace or control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Token {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

impl TokenHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn minted_tokens_are_43_url_safe_characters_and_distinct() {
        let (a, b) = (Token::mint(), Token::mint());
        assert_eq!(a.expose().len(), 43);
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = Token::mint();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn upstream_tokens_are_checked_without_echoing_them() {
        let err = Token::parse("short secret").unwrap_err();
        assert!(!err.contains("short secret"));
        assert!(Token::parse("a".repeat(40).as_str()).is_ok());
    }
}
