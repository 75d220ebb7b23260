//! The console's session: a cookie holding `payload.mac`, where payload is a
//! random session id and its expiry, and mac is HMAC-SHA256 under a subkey of
//! `HERALD_SECRET_KEY` (`console.session`). The API token itself is never in
//! the cookie; a forged or altered cookie does not verify, an old one has
//! expired, and one signed out is refused until it would have expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const COOKIE: &str = "herald_console";
/// How long a sign-in lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
const ID_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: [u8; ID_LEN],
    /// Unix seconds.
    pub expires: i64,
}

pub struct Sessions {
    key: [u8; 32],
    /// Signed-out sessions, until their expiry.
    revoked: Mutex<HashMap<[u8; ID_LEN], i64>>,
}

impl Sessions {
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key,
            revoked: Mutex::new(HashMap::new()),
        }
    }

    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// A new session and the cookie value that carries it.
    pub fn issue(&self) -> (Session, String) {
        let mut id = [0u8; ID_LEN];
        getrandom::getrandom(&mut id).expect("OS random source");
        let session = Session {
            id,
            expires: now() + LIFETIME.as_secs() as i64,
        };
        let payload = [id.as_slice(), &session.expires.to_be_bytes()].concat();
        let value = format!(
            "{}.{}",
            B64.encode(&payload),
            B64.encode(self.mac(&payload))
        );
        (session, value)
    }

    /// The session a cookie value carries, if it verifies, has not expired
    /// and was not signed out.
    pub fn open(&self, value: &str) -> Option<Session> {
        let (payload, mac) = value.split_once('.')?;
        let payload = B64.decode(payload).ok()?;
        let mac = B64.decode(mac).ok()?;
        let mut check = self.hmac();
        check.update(b"session\0");
        check.update(&payload);
        check.verify_slice(&mac).ok()?;
        if payload.len() != ID_LEN + 8 {
            return None;
        }
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&payload[..ID_LEN]);
        let expires = i64::from_be_bytes(payload[ID_LEN..].try_into().ok()?);
        if expires <= now() {
            return None;
        }
        let revoked = self.revoked.lock().expect("revoked lock");
        (!revoked.contains_key(&id)).then_some(Session { id, expires })
    }

    /// Signs a session out: its cookie is refused from now on.
    pub fn revoke(&self, session: &Session) {
        let mut revoked = self.revoked.lock().expect("revoked lock");
        let now = now();
        revoked.retain(|_, expires| *expires > now);
        revoked.insert(session.id, session.expires);
    }

    fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length")
    }

    fn mac(&self, payload: &[u8]) -> Vec<u8> {
        let mut mac = self.hmac();
        mac.update(b"session\0");
        mac.update(payload);
        mac.finalize().into_bytes().to_vec()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The console cookie's value among a request's `Cookie` headers.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value for a session (`None`: clear it).
pub fn set_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(v) => format!(
            "{COOKIE}={v}; Path=/console; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/console; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_what_it_issued_and_nothing_else() {
        let sessions = Sessions::new([7; 32]);
        let (session, value) = sessions.issue();
        assert_eq!(sessions.open(&value), Some(session));
        let other = Sessions::new([8; 32]);
        assert_eq!(other.open(&value), None, "another key's cookie");
        let (payload, mac) = value.split_once('.').unwrap();
        let mut bytes = B64.decode(payload).unwrap();
        bytes[ID_LEN + 7] ^= 1;
        assert_eq!(
            sessions.open(&format!("{}.{mac}", B64.encode(&bytes))),
            None
        );
        sessions.revoke(&session);
        assert_eq!(sessions.open(&value), None, "signed out");
    }
}
