//! A corpus aimed at the database, not just the parser: every bad event is
//! dead-lettered once, with a reason, and the valid event published right
//! behind it is processed within seconds.

use crate::helpers::{TestApp, header, wait_for};
use lapin::BasicProperties;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

/// Random text that no compression shrinks.
fn incompressible(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes.iter().map(|b| char::from(b'!' + b % 90)).collect()
}

/// A structured CloudEvent with `data` spliced in as raw JSON text, so the
/// corpus can hold what `serde_json::Value` cannot (1e400, lone surrogates).
fn cloud_event(id: &str, event_type: &str, data: &str) -> Vec<u8> {
    format!(
        r#"{{"specversion":"1.0","id":{},"source":"corpus","type":"{event_type}","data":{data}}}"#,
        json!(id)
    )
    .into_bytes()
}

fn corpus() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let big = incompressible(8 * 1024);
    let invite = |field: &str, value: serde_json::Value| {
        let mut data =
            json!({"id": format!("inv-{}", uuid::Uuid::new_v4()), "email": "bad@example.test"});
        data[field] = value;
        data.to_string()
    };
    let reset = |field: &str, value: serde_json::Value| {
        let mut data = json!({"email": "bad@example.test", "user_id": "usr_1"});
        data[field] = value;
        data.to_string()
    };
    let nested = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
    let wide: serde_json::Map<_, _> = (0..100_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let id = || uuid::Uuid::new_v4().to_string();
    vec![
        (
            "oversized invite id",
            "invite.created",
            cloud_event(&id(), "invite.created", &invite("id", json!(big))),
        ),
        (
            "oversized email",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                &invite("email", json!(format!("{big}@example.test"))),
            ),
        ),
        (
            "oversized locale",
            "invite.created",
            cloud_event(&id(), "invite.created", &invite("locale", json!(big))),
        ),
        (
            "oversized first name",
            "invite.created",
            cloud_event(&id(), "invite.created", &invite("first_name", json!(big))),
        ),
        (
            "oversized user_id",
            "user.password_reset",
            cloud_event(&id(), "user.password_reset", &reset("user_id", json!(big))),
        ),
        (
            "oversized user id",
            "user.created",
            cloud_event(&id(), "user.created", &json!({"id": big}).to_string()),
        ),
        (
            "oversized event id",
            "user.updated",
            cloud_event(&big, "user.updated", r#"{"id":"usr_1"}"#),
        ),
        (
            "NUL in a name",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                &invite("first_name", json!("Ada\u{0}Lovelace")),
            ),
        ),
        (
            "NUL in metadata",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                &invite("metadata", json!({"note": "a\u{0}b"})),
            ),
        ),
        (
            "NUL in user_id",
            "user.password_reset",
            cloud_event(
                &id(),
                "user.password_reset",
                &reset("user_id", json!("usr\u{0}1")),
            ),
        ),
        (
            "lone surrogate",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                r#"{"id":"inv-s","email":"s@example.test","first_name":"\ud800"}"#,
            ),
        ),
        (
            "metadata 1,000 deep",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                &format!(
                    r#"{{"id":"inv-n","email":"n@example.test","metadata":{{"a":{nested}}}}}"#
                ),
            ),
        ),
        (
            "metadata with 100,000 keys",
            "invite.created",
            cloud_event(&id(), "invite.created", &invite("metadata", json!(wide))),
        ),
        (
            "a number beyond f64",
            "invite.created",
            cloud_event(
                &id(),
                "invite.created",
                r#"{"id":"inv-f","email":"f@example.test","metadata":{"n":1e400}}"#,
            ),
        ),
        (
            "a number beyond i64 as an id",
            "user.updated",
            cloud_event(&id(), "user.updated", r#"{"id":18446744073709551616}"#),
        ),
    ]
}

#[tokio::test]
async fn every_bad_event_is_dead_lettered_once_and_never_holds_up_the_next() {
    let app = TestApp::spawn().await;
    let props =
        || BasicProperties::default().with_content_type("application/cloudevents+json".into());
    let cases = corpus();
    for (i, (name, routing_key, body)) in cases.iter().enumerate() {
        app.publish_raw(routing_key, body, props()).await;
        let valid = format!("inv-valid-{i}");
        app.publish(
            "invite.created",
            json!({"id": valid, "email": format!("valid{i}@example.test")}),
        )
        .await;
        let pool = &app.pool;
        wait_for(
            &format!("the invite behind {name:?}"),
            Duration::from_secs(10),
            || async {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM invites WHERE id = $1")
                    .bind(&valid)
                    .fetch_one(pool)
                    .await
                    .unwrap()
                    == 1
            },
        )
        .await;
    }
    let dead = app.take_dead_letters().await;
    let reasons: Vec<String> = dead
        .iter()
        .map(|d| header(&d.properties, "x-herald-error").expect("a reason"))
        .collect();
    assert_eq!(
        dead.len(),
        cases.len(),
        "one dead letter per bad event: {reasons:#?}"
    );
    let bodies: HashSet<&[u8]> = dead.iter().map(|d| d.data.as_slice()).collect();
    for (name, _, body) in &cases {
        assert!(
            bodies.contains(body.as_slice()),
            "{name} dead-lettered as it came"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM invites").await,
        cases.len() as i64
    );
}
