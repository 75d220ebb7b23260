use std::fmt;

/// The id an event arrived with (envelope `id`, else the AMQP `message-id`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// Longest id accepted; AMQP short strings stop at 255 bytes anyway.
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let id = raw.trim();
        if id.is_empty() {
            return Err("event id is empty".into());
        }
        if id.len() > Self::MAX_LEN {
            return Err(format!("event id is longer than {} bytes", Self::MAX_LEN));
        }
        if id.chars().any(char::is_control) {
            return Err("event id contains control characters".into());
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
