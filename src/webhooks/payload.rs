//! The body every endpoint receives: `{"type","timestamp","data"}`, with no
//! token anywhere in it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// Removes every key named `token` (any case), at any depth. Tokens are
/// credentials for the user they were minted for; a webhook receiver must
/// never be able to act as that user.
pub fn strip_tokens(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.eq_ignore_ascii_case("token"));
            map.values_mut().for_each(strip_tokens);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_tokens),
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
    strip_tokens(&mut data);
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
