//! The body every endpoint receives: `{"type","timestamp","data"}`, with no
//! token, password or secret anywhere in it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// Whether a key names a credential: `token`, `password`, `secret` (any
/// case), or anything ending in `_token` or `Token` (`reset_token`,
/// `accessToken`). Such values are credentials for the user they were
/// minted for; a webhook receiver must never be able to act as that user.
pub fn is_secret_key(key: &str) -> bool {
    ["token", "password", "secret"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
        || key.to_ascii_lowercase().ends_with("_token")
        || key.ends_with("Token")
}

/// Removes every secret-like key ([`is_secret_key`]) at any depth.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !is_secret_key(key));
            map.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

/// The serialized body. `invite` (the invite's row as it stands after the
/// handler ran) is merged over the event's data for invite events.
pub fn build(
    event_type: &str,
    time: DateTime<Utc>,
    data: &Map<String, Value>,
    invite: Option<Map<String, Value>>,
) -> String {
    let mut data = data.clone();
    data.extend(invite.unwrap_or_default());
    let mut data = Value::Object(data);
    strip_secrets(&mut data);
    json!({
        "type": event_type,
        "timestamp": time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_secret_like_keys() {
        for key in [
            "token",
            "TOKEN",
            "reset_token",
            "ACCESS_TOKEN",
            "accessToken",
            "password",
            "Secret",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "tokens",
            "token_type",
            "tokenizer",
            "passwords_count",
            "secretary",
            "id",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn strips_tokens_at_any_depth_and_merges_the_invite() {
        let data = json!({"id": "inv_1", "token": "t0ps3cret-aaaaaaaaaaaa", "role": "admin",
                          "metadata": {"Token": "x", "nested": [{"token": "y", "keep": 1}]}});
        let invite = json!({"id": "inv_1", "status": "pending", "role": "member"});
        let time = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let body = build(
            "invite.created",
            time,
            data.as_object().unwrap(),
            invite.as_object().cloned(),
        );
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed,
            json!({"type": "invite.created", "timestamp": "2025-01-02T03:04:05.000Z",
                   "data": {"id": "inv_1", "role": "member", "status": "pending",
                            "metadata": {"nested": [{"keep": 1}]}}})
        );
        assert!(!body.to_lowercase().contains("token"));
    }
}
