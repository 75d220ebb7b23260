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

mod properties {
    use super::*;
    use crate::events::{EVENT_TYPES, Event};
    use proptest::prelude::*;

    /// Any JSON value, a few levels deep.
    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            ".{0,40}".prop_map(serde_json::Value::from),
            "[a-z]{1,8}@[a-z]{1,8}\\.[a-z]{2,3}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("id".to_owned()),
                        Just("email".to_owned()),
                        Just("token".to_owned()),
                        Just("role".to_owned()),
                        Just("user_email".to_owned()),
                        Just("entity_id".to_owned()),
                        Just("actor_type".to_owned()),
                        Just("metadata".to_owned()),
                        "[a-z_]{1,10}".prop_map(String::from),
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The whole path from bytes to a typed event: a typed event or a
    /// reason, never a panic, and a reason is never empty.
    fn check(routing_key: &str, props: &BasicProperties, body: &[u8]) {
        let msg = Incoming {
            routing_key,
            properties: props,
            body,
        };
        match Envelope::parse(&msg).and_then(|env| Event::parse(&env).map(|_| ())) {
            Ok(()) => {}
            Err(reason) => assert!(!reason.0.is_empty()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512), key in "[a-z._]{0,20}") {
            check(&key, &BasicProperties::default(), &body);
        }

        #[test]
        fn arbitrary_event_data_is_typed_or_rejected(
            ty in prop::sample::select(EVENT_TYPES.to_vec()),
            data in json(),
            medusa in any::<bool>(),
        ) {
            let body = if medusa {
                serde_json::json!({"name": ty, "data": data})
            } else {
                serde_json::json!({"specversion": "1.0", "id": "e1", "source": "p", "type": ty, "data": data})
            };
            let props = BasicProperties::default().with_message_id("m1".into());
            check(ty, &props, body.to_string().as_bytes());
        }

        #[test]
        fn rejection_reasons_never_quote_a_token(token in "[A-Za-z0-9_-]{16,64}", bad_email in "[a-z]{3,10}") {
            let body = serde_json::json!({"name": "invite.created",
                "data": {"id": "i", "email": bad_email, "token": token}});
            let props = BasicProperties::default().with_message_id("m".into());
            let bytes = body.to_string();
            let msg = Incoming { routing_key: "invite.created", properties: &props, body: bytes.as_bytes() };
            let env = Envelope::parse(&msg).unwrap();
            let reason = Event::parse(&env).unwrap_err();
            prop_assert!(!reason.0.contains(&token));
        }
    }
}
