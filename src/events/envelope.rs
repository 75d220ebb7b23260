//! Turns an AMQP delivery into an [`Envelope`]: CloudEvents structured JSON,
//! CloudEvents binary mode, or Medusa's `{name, data, metadata}`.

use crate::domain::EventId;
use crate::error::Rejection;
use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use serde_json::{Map, Value};

/// Larger bodies are dead-lettered unread: no user-lifecycle event is this big.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The type is stored with the event id (`processed_events`, webhook rows)
/// and quoted when it is unknown; AMQP routing keys stop at 255 bytes too.
pub const MAX_TYPE_BYTES: usize = 255;

/// The parts of a delivery the parser reads.
pub struct Incoming<'a> {
    pub routing_key: &'a str,
    pub properties: &'a BasicProperties,
    pub body: &'a [u8],
}

#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub id: EventId,
    pub event_type: String,
    pub time: Option<DateTime<Utc>>,
    pub data: Map<String, Value>,
}

impl Envelope {
    pub fn parse(msg: &Incoming<'_>) -> Result<Self, Rejection> {
        if msg.body.len() > MAX_BODY_BYTES {
            return Err(Rejection::new(format!(
                "body is {} bytes, more than the {MAX_BODY_BYTES} accepted",
                msg.body.len()
            )));
        }
        let text = std::str::from_utf8(msg.body).map_err(|e| {
            Rejection::new(format!(
                "body is not valid UTF-8 (byte {})",
                e.valid_up_to()
            ))
        })?;
        if let Some(binary) = BinaryAttributes::read(msg.properties)? {
            return binary.into_envelope(msg, text);
        }
        let body = json_object(text, "body")?;
        if body.contains_key("specversion") {
            structured(msg, body)
        } else if body.contains_key("name") {
            medusa(msg, body)
        } else {
            Err(Rejection::new(
                "unrecognised envelope: expected CloudEvents (`specversion`) or a Medusa event (`name`)",
            ))
        }
    }
}

fn json_object(text: &str, what: &str) -> Result<Map<String, Value>, Rejection> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Rejection::new(format!(
            "{what} is JSON {}, expected an object",
            json_kind(&other)
        ))),
        Err(e) => Err(Rejection::new(format!("{what} is not JSON: {e}"))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn structured(msg: &Incoming<'_>, mut body: Map<String, Value>) -> Result<Envelope, Rejection> {
    let version = string_field(&body, "specversion")?;
    if version.as_deref() != Some("1.0") {
        return Err(Rejection::new("specversion must be \"1.0\""));
    }
    if body.contains_key("data_base64") {
        return Err(Rejection::new(
            "data_base64 is not supported: send data as JSON",
        ));
    }
    let id = string_field(&body, "id")?;
    let event_type = string_field(&body, "type")?;
    let time = match string_field(&body, "time")? {
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|e| Rejection::new(format!("time is not RFC 3339: {e}")))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let data = data_object(body.remove("data"))?;
    finish(msg, id, event_type, time, data)
}

fn medusa(msg: &Incoming<'_>, mut body: Map<String, Value>) -> Result<Envelope, Rejection> {
    let name = string_field(&body, "name")?;
    let id = string_field(&body, "id")?;
    let data = data_object(body.remove("data"))?;
    finish(msg, id, name, None, data)
}

fn data_object(data: Option<Value>) -> Result<Map<String, Value>, Rejection> {
    match data {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(Rejection::new(format!(
            "data is JSON {}, expected an object",
            json_kind(&other)
        ))),
    }
}

fn string_field(body: &Map<String, Value>, key: &str) -> Result<Option<String>, Rejection> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Rejection::new(format!(
            "`{key}` is JSON {}, expected a string",
            json_kind(other)
        ))),
    }
}

/// Envelope id else AMQP message-id; envelope type else routing key.
fn finish(
    msg: &Incoming<'_>,
    id: Option<String>,
    event_type: Option<String>,
    time: Option<DateTime<Utc>>,
    data: Map<String, Value>,
) -> Result<Envelope, Rejection> {
    let id = id
        .or_else(|| msg.properties.message_id().as_ref().map(|m| m.to_string()))
        .ok_or_else(|| {
            Rejection::new("no event id: neither the envelope `id` nor the AMQP message-id is set")
        })?;
    let id = EventId::parse(&id).map_err(Rejection::new)?;
    let event_type = event_type
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| msg.routing_key.to_owned());
    if event_type.len() > MAX_TYPE_BYTES {
        return Err(Rejection::new(format!(
            "event type is {} bytes long, more than the {MAX_TYPE_BYTES} accepted",
            event_type.len()
        )));
    }
    if event_type.chars().any(char::is_control) {
        return Err(Rejection::new("event type contains control characters"));
    }
    Ok(Envelope {
        id,
        event_type,
        time,
        data,
    })
}

/// CloudEvents binary mode: attributes in AMQP application properties, with
/// either the `cloudEvents:` or the `cloudEvents_` prefix.
struct BinaryAttributes {
    id: Option<String>,
    event_type: Option<String>,
    time: Option<DateTime<Utc>>,
}

impl BinaryAttributes {
    fn read(props: &BasicProperties) -> Result<Option<Self>, Rejection> {
        let Some(headers) = props.headers() else {
            return Ok(None);
        };
        let get = |name: &str| -> Result<Option<String>, Rejection> {
            for prefix in ["cloudEvents:", "cloudEvents_"] {
                let key = format!("{prefix}{name}");
                if let Some(value) = headers.inner().get(key.as_str()) {
                    return header_string(value)
                        .map(Some)
                        .ok_or_else(|| Rejection::new(format!("header {key} is not a string")));
                }
            }
            Ok(None)
        };
        let Some(version) = get("specversion")? else {
            return Ok(None);
        };
        if version != "1.0" {
            return Err(Rejection::new("cloudEvents:specversion must be \"1.0\""));
        }
        let time = match get("time")? {
            Some(t) => Some(
                DateTime::parse_from_rfc3339(&t)
                    .map_err(|e| Rejection::new(format!("cloudEvents:time is not RFC 3339: {e}")))?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        Ok(Some(Self {
            id: get("id")?,
            event_type: get("type")?,
            time,
        }))
    }

    fn into_envelope(self, msg: &Incoming<'_>, text: &str) -> Result<Envelope, Rejection> {
        let data = if text.trim().is_empty() {
            Map::new()
        } else {
            json_object(text, "data")?
        };
        finish(msg, self.id, self.event_type, self.time, data)
    }
}

fn header_string(value: &AMQPValue) -> Option<String> {
    match value {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
