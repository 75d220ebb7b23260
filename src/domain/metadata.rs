use serde::Deserialize;
use serde_json::{Map, Value};

/// Free-form data stored as `jsonb` with an invite. PostgreSQL refuses a NUL
/// (`\u0000`) anywhere in jsonb text (SQLSTATE 22P05), so one is refused
/// here with the field named; the size bound keeps one event from bloating
/// the table.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(try_from = "Map<String, Value>")]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Serialized size; generous for labels and ids, far below the body limit.
    pub const MAX_BYTES: usize = 64 * 1024;

    pub fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

impl TryFrom<Map<String, Value>> for Metadata {
    type Error = String;
    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        let value = Value::Object(map);
        if has_nul(&value) {
            return Err("contains a NUL character (\\u0000), which PostgreSQL cannot store".into());
        }
        let size = value.to_string().len();
        if size > Self::MAX_BYTES {
            return Err(format!(
                "is {size} bytes as JSON, more than the {} accepted",
                Self::MAX_BYTES
            ));
        }
        let Value::Object(map) = value else {
            unreachable!("built from a map")
        };
        Ok(Self(map))
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Metadata, String> {
        Metadata::try_from(v.as_object().unwrap().clone())
    }

    #[test]
    fn refuses_nul_anywhere_and_oversized_maps() {
        assert!(parse(json!({"team": "ops", "n": [1, {"a": null}]})).is_ok());
        for bad in [
            json!({"a": "x\u{0}y"}),
            json!({"a\u{0}": 1}),
            json!({"a": [{"b": ["\u{0}"]}]}),
        ] {
            assert!(parse(bad.clone()).unwrap_err().contains("NUL"), "{bad}");
        }
        let big = parse(json!({"pad": "x".repeat(Metadata::MAX_BYTES)})).unwrap_err();
        assert!(big.contains("bytes"), "{big}");
    }
}
