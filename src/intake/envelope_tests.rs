use super::*;
use lapin::types::{FieldTable, LongString};

fn parse(routing_key: &str, props: BasicProperties, body: &str) -> Result<Envelope, Rejection> {
    Envelope::parse(&Incoming {
        routing_key,
        properties: &props,
        body: body.as_bytes(),
    })
}

#[test]
fn structured_cloudevents() {
    let env = parse(
        "ignored",
        BasicProperties::default(),
        r#"{"specversion":"1.0","id":"e1","source":"s","type":"invite.created","time":"2026-01-02T03:04:05Z","data":{"id":"i"}}"#,
    )
    .unwrap();
    assert_eq!(env.id.as_str(), "e1");
    assert_eq!(env.event_type, "invite.created");
    assert_eq!(env.data["id"], "i");
    assert!(env.time.is_some());
}

#[test]
fn binary_cloudevents_with_either_prefix() {
    for prefix in ["cloudEvents:", "cloudEvents_"] {
        let mut headers = FieldTable::default();
        for (k, v) in [
            ("specversion", "1.0"),
            ("id", "b1"),
            ("type", "user.created"),
            ("source", "s"),
        ] {
            headers.insert(
                format!("{prefix}{k}").into(),
                AMQPValue::LongString(LongString::from(v)),
            );
        }
        let env = parse(
            "user.updated",
            BasicProperties::default().with_headers(headers),
            r#"{"id":"u"}"#,
        )
        .unwrap();
        assert_eq!(
            (env.id.as_str(), env.event_type.as_str()),
            ("b1", "user.created")
        );
        assert_eq!(env.data["id"], "u");
    }
}

#[test]
fn medusa_takes_id_from_message_id_and_type_from_name() {
    let props = BasicProperties::default().with_message_id("m1".into());
    let env = parse(
        "whatever",
        props,
        r#"{"name":"invite.resent","data":{"id":"i"},"metadata":{}}"#,
    )
    .unwrap();
    assert_eq!(
        (env.id.as_str(), env.event_type.as_str()),
        ("m1", "invite.resent")
    );
}

#[test]
fn rejects_what_can_never_succeed() {
    let none = BasicProperties::default;
    let cases = [
        ("not json", "not JSON"),
        ("[1,2]", "array"),
        (r#"{"name":"user.created","data":{}}"#, "no event id"),
        (
            r#"{"specversion":"0.3","id":"x","type":"t"}"#,
            "specversion",
        ),
        (
            r#"{"specversion":"1.0","id":5,"type":"t"}"#,
            "`id` is JSON number",
        ),
        (
            r#"{"specversion":"1.0","id":"x","data":[1]}"#,
            "data is JSON array",
        ),
        (r#"{"hello":"world"}"#, "unrecognised envelope"),
    ];
    for (body, expected) in cases {
        let err = parse("user.created", none(), body).unwrap_err();
        assert!(err.0.contains(expected), "{body}: {err}");
    }
    let big = format!(r#"{{"name":"x","pad":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
    assert!(parse("x", none(), &big).unwrap_err().0.contains("bytes"));
    let bad_utf8 = Envelope::parse(&Incoming {
        routing_key: "x",
        properties: &none(),
        body: b"{\"a\":\"\xff\"}",
    });
    assert!(bad_utf8.unwrap_err().0.contains("UTF-8"));
}
