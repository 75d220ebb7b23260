//! Every console form that changes something carries a token bound to the
//! session (HMAC of its id under the session subkey, with its own label), in
//! a hidden field checked server-side. Another site can make a browser post,
//! but cannot read the page, so it cannot know the token; the SameSite=Strict
//! cookie is a second wall.

use super::session::Session;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub fn token(key: &[u8; 32], session: &Session) -> String {
    B64.encode(mac(key, session).finalize().into_bytes())
}

/// Whether `given` is the session's token, compared in constant time.
pub fn check(key: &[u8; 32], session: &Session, given: &str) -> bool {
    B64.decode(given)
        .is_ok_and(|given| mac(key, session).verify_slice(&given).is_ok())
}

fn mac(key: &[u8; 32], session: &Session) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(b"csrf\0");
    mac.update(&session.id);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_fits_only_its_session() {
        let key = [3; 32];
        let a = Session {
            id: [1; 16],
            expires: 0,
        };
        let b = Session {
            id: [2; 16],
            expires: 0,
        };
        assert!(check(&key, &a, &token(&key, &a)));
        assert!(!check(&key, &b, &token(&key, &a)));
        assert!(!check(&key, &a, ""));
        assert!(!check(&key, &a, "not base64!"));
    }
}
