//! Standard Webhooks signing: the endpoint secret and the signature of one attempt.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const PREFIX: &str = "whsec_";

/// `whsec_` + base64 of 24 to 64 random bytes. Debug never shows it: it is
/// shown once, by whatever created it (`herald webhooks add`, a rotation).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

impl Secret {
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text
            .strip_prefix(PREFIX)
            .ok_or("a webhook secret starts with whsec_")?;
        // Padded, as the API's schema pattern says (the decoder alone
        // would take it either way).
        if encoded.len() % 4 != 0 {
            return Err("a webhook secret is whsec_ followed by padded standard base64".into());
        }
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "a webhook secret is whsec_ followed by standard base64".to_owned())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "a webhook secret decodes to 24 to 64 bytes, not {}",
                key.len()
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            key,
        })
    }

    pub fn generate() -> Self {
        let mut key = vec![0u8; 32];
        getrandom::getrandom(&mut key).expect("the OS random number generator");
        Self {
            text: format!("{PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    pub fn expose(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// `webhook-signature` for one attempt: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret.key).expect("HMAC takes any key length");
    mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// `webhook-signature` under each secret, space-separated: during a
/// rotation's grace period a receiver verifies with either the old or the
/// new secret, as Standard Webhooks allows.
pub fn sign_all(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .map(|s| sign(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let secret = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = r#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(&secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn parses_generates_and_masks_secrets() {
        let generated = Secret::generate();
        assert_eq!(Secret::parse(generated.expose()).unwrap(), generated);
        assert!(!format!("{generated:?}").contains(&generated.expose()[6..]));
        assert!(Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
        assert!(Secret::parse("whsec_not base64").is_err());
        assert!(Secret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 16]))).is_err());
        assert!(Secret::parse(&format!("whsec_{}", STANDARD.encode([1u8; 65]))).is_err());
    }
}
