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

#[test]
fn the_event_type_is_bounded() {
    let long = format!(
        r#"{{"specversion":"1.0","id":"e","type":"{}"}}"#,
        "t".repeat(MAX_TYPE_BYTES + 1)
    );
    let err = parse("x", BasicProperties::default(), &long).unwrap_err();
    assert!(err.0.contains("256 bytes"), "{err}");
    let ctl = r#"{"specversion":"1.0","id":"e","type":"user.created\u0000"}"#;
    let err = parse("x", BasicProperties::default(), ctl).unwrap_err();
    assert!(err.0.contains("control"), "{err}");
}

/// Every field that reaches a PostgreSQL column (a key, an index, a
/// constraint, text or jsonb) is bounded when the event is parsed, and the
/// reason names the field without quoting an oversized value or a token.
#[test]
fn every_stored_field_is_bounded_with_a_named_reason() {
    use crate::events::Event;
    use serde_json::json;
    let token = "secret-token-0123456789abcdef";
    let huge = "Zq7".repeat(2731);
    let ok = "a@example.com";
    let cases = [
        (
            "user.password_reset",
            json!({"email": ok, "user_id": huge, "token": token}),
            "user_id: must be 1 to 255 bytes",
        ),
        (
            "invite.created",
            json!({"id": huge, "email": ok, "token": token}),
            "id: must be 1 to 255 bytes",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": format!("{huge}@example.com")}),
            "email: email address is",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "first_name": huge}),
            "first_name: is 8193 characters",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "invited_by": "a\u{0}b"}),
            "invited_by: contains control",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "locale": huge}),
            "locale: must be a language tag",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "role": huge}),
            "role: role is not one of",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "metadata": {"k": ["\u{0}"]}}),
            "metadata: contains a NUL",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "metadata": {"k": "x".repeat(70_000)}}),
            "metadata: is 70008 bytes",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at: 2001-01-01T00:00:00+00:00 is already past",
        ),
        (
            "invite.created",
            json!({"id": "i", "email": ok, "token": token, "expires_at": huge}),
            "expires_at: a 8193-byte value is not an RFC 3339",
        ),
        (
            "invite.resent",
            json!({"id": "i", "expires_at": "tomorrow"}),
            "expires_at: \"tomorrow\" is not an RFC 3339",
        ),
        (
            "invite.accepted",
            json!({"id": "a\u{0}"}),
            "id: contains control",
        ),
        (
            "invite.deleted",
            json!({"id": ""}),
            "id: must be 1 to 255 bytes",
        ),
        (
            "user.created",
            json!({"id": "u", "email": ok, "last_name": "\u{0}"}),
            "last_name: contains control",
        ),
        (
            "user.created",
            json!({"id": "u", "locale": "fr\u{0}"}),
            "locale: must be a language tag",
        ),
        (
            "user.deleted",
            json!({"id": huge}),
            "id: must be 1 to 255 bytes",
        ),
        (
            "user.deleted",
            json!({"id": "u", "email": "nope"}),
            "email: invalid email address",
        ),
        (
            "auth.password_reset",
            json!({"entity_id": huge, "actor_type": "user", "token": token}),
            "entity_id: email address is",
        ),
        (
            "auth.password_reset",
            json!({"entity_id": ok, "first_name": huge}),
            "first_name: is 8193 characters",
        ),
        (
            "auth.password_reset",
            json!({"actorType": 5, "entity_id": ok}),
            "actorType: expected a string",
        ),
        ("invite.created", json!({"id": "inv_v2"}), "Medusa plugin"),
        (
            "user.password_reset",
            json!({"user_id": "u"}),
            "missing field `email` (or Medusa's `entity_id`)",
        ),
    ];
    for (ty, data, expected) in cases {
        let body =
            json!({"specversion": "1.0", "id": "e1", "source": "t", "type": ty, "data": data});
        let env = parse(ty, BasicProperties::default(), &body.to_string()).unwrap();
        let reason = Event::parse(&env).unwrap_err().0;
        assert!(reason.starts_with(ty), "{ty}: {reason}");
        assert!(
            reason.contains(expected),
            "{ty}: expected {expected:?} in {reason:?}"
        );
        assert!(reason.len() < 500, "{ty}: a {}-byte reason", reason.len());
        assert!(
            !reason.contains(token) && !reason.contains("Zq7Zq7"),
            "{reason}"
        );
    }
}

#[test]
fn a_reset_for_another_actor_reads_nothing_else() {
    use crate::events::{Event, PasswordReset};
    for actor in [r#""actor_type":"customer""#, r#""actorType":"customer""#] {
        let body = format!(
            r#"{{"name":"auth.password_reset","data":{{{actor},"entity_id":"cus_01","token":"x"}}}}"#
        );
        let props = BasicProperties::default().with_message_id("m".into());
        let env = parse("auth.password_reset", props, &body).unwrap();
        match Event::parse(&env).unwrap() {
            Event::PasswordReset(PasswordReset::OtherActor(a)) => assert_eq!(a, "customer"),
            other => panic!("{other:?}"),
        }
    }
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
