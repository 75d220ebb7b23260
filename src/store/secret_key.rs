//! `HERALD_SECRET_KEY` and `HERALD_SECRET_KEY_PREVIOUS`: seal a token while
//! its email waits in the outbox, and every webhook endpoint secret, so the
//! database never holds one in the clear.
//!
//! A sealed value is `1 ‖ key id (4 bytes) ‖ nonce (24) ‖ XChaCha20-Poly1305
//! ciphertext`. The key id (the first bytes of SHA-256 of the key) says which
//! key sealed it, so after a rotation the older keys, kept only to open, still
//! open what they sealed. The associated data binds the value to its place:
//! an email's row id, recipient and template; an endpoint's id. A sealed
//! value cannot be moved to another row and still open.
//!
//! Values sealed before key ids existed (`nonce ‖ ciphertext`, the row id as
//! associated data) still open with whichever configured key sealed them.

use super::EmailTemplate;
use crate::domain::{EmailAddress, Token};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN;

#[derive(Clone)]
struct Key {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
    /// HMAC-SHA256(key, "herald.subkey") : the root of [`SecretKey::subkey`],
    /// so the sealing key itself is never used for anything else.
    subkey_root: [u8; 32],
}

impl Key {
    fn from_base64(raw: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| "not valid standard base64".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!("decodes to {} bytes, expected 32", bytes.len()));
        }
        let digest = Sha256::digest(&bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let mut root = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("any key length");
        root.update(b"herald.subkey");
        Ok(Self {
            id,
            cipher: XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"),
            subkey_root: root.finalize().into_bytes().into(),
        })
    }

    fn decrypt(&self, nonce: &[u8], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg, aad })
            .ok()
    }
}

/// Where a sealed value belongs; bound in as associated data.
pub enum Place<'a> {
    Email {
        row: Uuid,
        recipient: &'a EmailAddress,
        template: EmailTemplate,
    },
    Endpoint {
        id: Uuid,
    },
}

impl Place<'_> {
    fn aad(&self) -> Vec<u8> {
        match self {
            Place::Email {
                row,
                recipient,
                template,
            } => [
                b"herald.email\0".as_slice(),
                row.as_bytes(),
                recipient.as_str().as_bytes(),
                b"\0",
                template.as_str().as_bytes(),
            ]
            .concat(),
            Place::Endpoint { id } => [b"herald.endpoint\0".as_slice(), id.as_bytes()].concat(),
        }
    }

    /// What values sealed before key ids existed were bound to.
    fn legacy_aad(&self) -> Option<Vec<u8>> {
        match self {
            Place::Email { row, .. } => Some(row.as_bytes().to_vec()),
            Place::Endpoint { .. } => None,
        }
    }
}

/// Why a sealed token cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// No configured key opens it: the key that sealed it is missing. It may
    /// open later, once that key is configured again.
    #[error("no configured key (HERALD_SECRET_KEY, HERALD_SECRET_KEY_PREVIOUS) opens it")]
    NoKey,
    /// It opened, but what it holds is not a token.
    #[error("{0}")]
    Corrupt(String),
}

/// The current key, which seals, and older keys, which only open.
#[derive(Clone)]
pub struct SecretKey {
    current: Key,
    previous: Vec<Key>,
}

impl SecretKey {
    pub fn from_base64(raw: &str) -> Result<Self, String> {
        Ok(Self {
            current: Key::from_base64(raw)?,
            previous: Vec::new(),
        })
    }

    /// Adds `HERALD_SECRET_KEY_PREVIOUS`: comma-separated base64 keys.
    pub fn with_previous(mut self, raw: &str) -> Result<Self, String> {
        for (i, part) in raw.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let key = Key::from_base64(part).map_err(|e| format!("key {}: {e}", i + 1))?;
            self.previous.push(key);
        }
        Ok(self)
    }

    /// A key for one purpose (`purpose` names it, e.g. `console.session`),
    /// derived from the current key: it opens nothing sealed, and knowing it
    /// tells nothing about the key.
    pub fn subkey(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.current.subkey_root)
            .expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Each configured key's id in hex, the current one first.
    pub fn ids(&self) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|k| k.id.iter().map(|b| format!("{b:02x}")).collect())
            .collect()
    }

    pub fn seal(&self, plain: &[u8], place: &Place<'_>) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = place.aad();
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("XChaCha20 encryption cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend(ciphertext);
        out
    }

    /// The plaintext, and which key opened it (0: the current one, then
    /// `HERALD_SECRET_KEY_PREVIOUS` in order).
    pub fn open(&self, sealed: &[u8], place: &Place<'_>) -> Result<(usize, Vec<u8>), OpenError> {
        let keys = || {
            std::iter::once(&self.current)
                .chain(&self.previous)
                .enumerate()
        };
        if sealed.len() > HEADER_LEN + NONCE_LEN && sealed[0] == VERSION {
            let (id, rest) = sealed[1..].split_at(KEY_ID_LEN);
            let (nonce, msg) = rest.split_at(NONCE_LEN);
            let aad = place.aad();
            for (i, key) in keys().filter(|(_, k)| k.id == id) {
                if let Some(plain) = key.decrypt(nonce, msg, &aad) {
                    return Ok((i, plain));
                }
            }
        }
        if let Some(aad) = place.legacy_aad()
            && sealed.len() > NONCE_LEN
        {
            let (nonce, msg) = sealed.split_at(NONCE_LEN);
            for (i, key) in keys() {
                if let Some(plain) = key.decrypt(nonce, msg, &aad) {
                    return Ok((i, plain));
                }
            }
        }
        Err(OpenError::NoKey)
    }

    pub fn seal_token(&self, token: &Token, place: &Place<'_>) -> Vec<u8> {
        self.seal(token.expose().as_bytes(), place)
    }

    pub fn open_token(&self, sealed: &[u8], place: &Place<'_>) -> Result<Token, OpenError> {
        let (_, plain) = self.open(sealed, place)?;
        let text = String::from_utf8(plain)
            .map_err(|_| OpenError::Corrupt("sealed token is not UTF-8".into()))?;
        Token::parse(&text).map_err(OpenError::Corrupt)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(ids {:?})", self.ids())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    static ADA: std::sync::LazyLock<EmailAddress> =
        std::sync::LazyLock::new(|| EmailAddress::parse("a@example.com").unwrap());

    fn email(row: Uuid) -> Place<'static> {
        Place::Email {
            row,
            recipient: &ADA,
            template: EmailTemplate::Invite,
        }
    }

    #[test]
    fn seals_and_opens_only_in_the_same_place() {
        let k = SecretKey::from_base64(&key(7)).unwrap();
        let token = Token::mint();
        let row = Uuid::now_v7();
        let sealed = k.seal_token(&token, &email(row));
        assert!(
            !sealed
                .windows(token.expose().len())
                .any(|w| w == token.expose().as_bytes())
        );
        assert_eq!(k.open_token(&sealed, &email(row)).unwrap(), token);
        assert!(k.open_token(&sealed, &email(Uuid::now_v7())).is_err());
        let bob = EmailAddress::parse("b@example.com").unwrap();
        let other_recipient = Place::Email {
            row,
            recipient: &bob,
            template: EmailTemplate::Invite,
        };
        assert!(k.open_token(&sealed, &other_recipient).is_err());
        let other_template = Place::Email {
            row,
            recipient: &ADA,
            template: EmailTemplate::PasswordReset,
        };
        assert!(k.open_token(&sealed, &other_template).is_err());
    }

    #[test]
    fn previous_keys_open_what_they_sealed_and_never_seal() {
        let old = SecretKey::from_base64(&key(1)).unwrap();
        let row = Uuid::now_v7();
        let sealed = old.seal(b"x", &email(row));
        let rotated = SecretKey::from_base64(&key(2))
            .unwrap()
            .with_previous(&format!("{}, {}", key(3), key(1)))
            .unwrap();
        assert_eq!(
            rotated.open(&sealed, &email(row)).unwrap(),
            (2, b"x".to_vec())
        );
        let resealed = rotated.seal(b"y", &email(row));
        assert!(matches!(
            old.open(&resealed, &email(row)),
            Err(OpenError::NoKey)
        ));
        assert_eq!(rotated.ids().len(), 3);
    }

    #[test]
    fn opens_values_sealed_before_key_ids() {
        let k = SecretKey::from_base64(&key(9)).unwrap();
        let row = Uuid::now_v7();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut legacy = nonce.to_vec();
        legacy.extend(
            k.current
                .cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: b"old",
                        aad: row.as_bytes(),
                    },
                )
                .unwrap(),
        );
        assert_eq!(k.open(&legacy, &email(row)).unwrap().1, b"old");
        assert!(k.open(&legacy, &Place::Endpoint { id: row }).is_err());
    }

    #[test]
    fn rejects_bad_keys() {
        assert!(SecretKey::from_base64(&STANDARD.encode([7u8; 16])).is_err());
        assert!(SecretKey::from_base64("not base64!").is_err());
        let err = SecretKey::from_base64(&key(1))
            .unwrap()
            .with_previous("short")
            .unwrap_err();
        assert!(err.starts_with("key 1:"));
    }
}
