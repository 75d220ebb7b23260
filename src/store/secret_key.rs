use crate::domain::Token;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use uuid::Uuid;

const NONCE_LEN: usize = 24;

/// `HERALD_SECRET_KEY`: seals a token while its email waits in the outbox, so
/// the database never holds one in the clear. The row id is bound in as
/// associated data, so a sealed token cannot be moved to another row.
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305);

impl SecretKey {
    pub fn from_base64(raw: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| "not valid standard base64".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!("decodes to {} bytes, expected 32", bytes.len()));
        }
        Ok(Self(
            XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"),
        ))
    }

    pub fn seal(&self, token: &Token, row: Uuid) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: token.expose().as_bytes(),
            aad: row.as_bytes(),
        };
        let mut out = nonce.to_vec();
        out.extend(
            self.0
                .encrypt(&nonce, payload)
                .expect("XChaCha20 encryption cannot fail"),
        );
        out
    }

    pub fn open(&self, sealed: &[u8], row: Uuid) -> Result<Token, String> {
        if sealed.len() <= NONCE_LEN {
            return Err("sealed token is truncated".into());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: row.as_bytes(),
                },
            )
            .map_err(|_| "sealed token does not open with HERALD_SECRET_KEY".to_owned())?;
        let text = String::from_utf8(plain).map_err(|_| "sealed token is not UTF-8".to_owned())?;
        Token::parse(&text)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_for_the_same_row() {
        let key = SecretKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let token = Token::mint();
        let row = Uuid::now_v7();
        let sealed = key.seal(&token, row);
        assert!(
            !sealed
                .windows(token.expose().len())
                .any(|w| w == token.expose().as_bytes())
        );
        assert_eq!(key.open(&sealed, row).unwrap(), token);
        assert!(key.open(&sealed, Uuid::now_v7()).is_err());
    }

    #[test]
    fn rejects_short_keys() {
        assert!(SecretKey::from_base64(&STANDARD.encode([7u8; 16])).is_err());
        assert!(SecretKey::from_base64("not base64!").is_err());
    }
}
