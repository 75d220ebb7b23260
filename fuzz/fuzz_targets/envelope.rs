//! Any delivery (routing key, content type, binary-mode headers, body) is
//! either a typed event or a rejection with a reason; it never panics.

#![no_main]

use herald::events::Event;
use herald::intake::{Envelope, Incoming};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use libfuzzer_sys::fuzz_target;

const KEYS: [&str; 8] = [
    "invite.created",
    "invite.resent",
    "invite.accepted",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.password_reset",
    "other",
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, body)) = input.split_first() else {
        return;
    };
    let routing_key = KEYS[usize::from(selector & 7)];
    let mut props = BasicProperties::default();
    if selector & 8 != 0 {
        props = props.with_content_type("application/cloudevents+json".into());
    }
    if selector & 16 != 0 {
        // Binary mode: attributes as headers, the body as data.
        let mut headers = FieldTable::default();
        for (key, value) in [
            ("cloudEvents:specversion", "1.0"),
            ("cloudEvents:id", "fuzz-1"),
            ("cloudEvents:source", "fuzz"),
            ("cloudEvents:type", routing_key),
        ] {
            headers.insert(key.into(), AMQPValue::LongString(LongString::from(value)));
        }
        props = props.with_headers(headers);
    }
    if selector & 32 != 0 {
        props = props.with_message_id("fuzz-message".into());
    }
    let incoming = Incoming {
        routing_key,
        properties: &props,
        body,
    };
    if let Ok(envelope) = Envelope::parse(&incoming) {
        let _ = Event::parse(&envelope);
    }
});
