//! Events that can never succeed land in `<queue>.dead-letter` with their
//! reason and untouched body; the events around them are processed.

use crate::helpers::{TestApp, header, herald_bin, wait_until};
use herald::intake::MAX_BODY_BYTES;
use lapin::BasicProperties;
use serde_json::json;

/// Runs `herald ARGS` against `app`, asserts it succeeded, returns its stdout.
fn herald_ok(app: &TestApp, args: &[&str]) -> String {
    let out = herald_bin().args(args).envs(app.env()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn with_id(id: &str) -> BasicProperties {
    BasicProperties::default().with_message_id(id.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_events_are_dead_lettered_with_their_reason() {
    let app = TestApp::spawn().await;
    let oversized = format!(
        r#"{{"name":"user.created","data":{{"id":"{}"}}}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let corpus: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "bad-json",
            "user.created",
            b"{not json".to_vec(),
            "not JSON",
        ),
        ("bad-array", "user.created", b"[1,2,3]".to_vec(), "array"),
        (
            "",
            "user.created",
            br#"{"name":"user.created","data":{"id":"u"}}"#.to_vec(),
            "no event id",
        ),
        (
            "bad-missing",
            "invite.created",
            br#"{"name":"invite.created","data":{"id":"i1"}}"#.to_vec(),
            "missing field `email`",
        ),
        (
            "bad-type",
            "invite.created",
            br#"{"name":"invite.created","data":{"id":5,"email":"a@b.co"}}"#.to_vec(),
            "invalid type",
        ),
        (
            "bad-email",
            "user.password_reset",
            br#"{"name":"user.password_reset","data":{"email":"not-an-address"}}"#.to_vec(),
            "invalid email",
        ),
        (
            "bad-role",
            "invite.created",
            br#"{"name":"invite.created","data":{"id":"i2","email":"a@b.co","role":"owner"}}"#
                .to_vec(),
            "role",
        ),
        (
            "bad-unknown",
            "invite.resent",
            br#"{"name":"invite.resent","data":{"id":"nope"}}"#.to_vec(),
            "unknown invite",
        ),
        (
            "bad-type-name",
            "user.created",
            br#"{"name":"user.exploded","data":{"id":"u"}}"#.to_vec(),
            "unknown event type",
        ),
        ("bad-size", "user.created", oversized.into_bytes(), "bytes"),
        (
            "bad-utf8",
            "user.created",
            b"{\"name\":\"user.created\",\"data\":{\"id\":\"\xff\"}}".to_vec(),
            "UTF-8",
        ),
    ];
    for (i, (id, key, body, _)) in corpus.iter().enumerate() {
        let props = if id.is_empty() {
            BasicProperties::default()
        } else {
            with_id(id)
        };
        app.publish_raw(key, body, props).await;
        app.publish("user.updated", json!({"id": format!("good-{i}")}))
            .await;
    }
    app.wait_processed(corpus.len() as i64).await;
    let dlq = app.settings.broker.dead_letter_name();
    wait_until("all dead letters", || async {
        app.queue_len(&dlq).await as usize == corpus.len()
    })
    .await;

    let dead = app.take_dead_letters().await;
    for (id, key, body, expected) in &corpus {
        let found = dead
            .iter()
            .find(|d| d.data == *body)
            .unwrap_or_else(|| panic!("{id:?} not dead-lettered with its body intact"));
        assert_eq!(found.routing_key.as_str(), *key, "{id}: routing key kept");
        let reason = header(&found.properties, "x-herald-error").unwrap_or_default();
        assert!(
            reason.contains(expected),
            "{id}: reason {reason:?} lacks {expected:?}"
        );
        if !id.is_empty() {
            assert_eq!(
                found.properties.message_id().as_ref().map(|m| m.as_str()),
                Some(*id),
                "properties kept"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_and_replayed_from_the_cli() {
    let app = TestApp::spawn().await;
    // Resent before the invite exists: dead-lettered. Once the invite is
    // there, replaying it succeeds.
    let resent = json!({"name": "invite.resent", "data": {"id": "inv_late"}});
    app.publish_raw(
        "invite.resent",
        resent.to_string().as_bytes(),
        with_id("late-resend"),
    )
    .await;
    let dlq = app.settings.broker.dead_letter_name();
    wait_until("dead letter", || async { app.queue_len(&dlq).await == 1 }).await;

    let out = herald_ok(&app, &["dead-letters", "list"]);
    let listed: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(listed["message_id"], "late-resend");
    assert_eq!(listed["routing_key"], "invite.resent");
    assert!(listed["error"].as_str().unwrap().contains("unknown invite"));
    wait_until("listing leaves it in place", || async {
        app.queue_len(&dlq).await == 1
    })
    .await;

    app.publish(
        "invite.created",
        json!({"id": "inv_late", "email": "late@example.com"}),
    )
    .await;
    app.wait_processed(1).await;
    let out = herald_ok(&app, &["dead-letters", "replay"]);
    assert_eq!(out.trim(), "replayed 1");
    app.wait_processed(2).await;
    assert_eq!(
        app.outbox().await.len(),
        2,
        "the replayed resend sent the invite again"
    );
    assert_eq!(app.queue_len(&dlq).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_takes_at_most_the_limit_and_each_message_once() {
    let app = TestApp::spawn().await;
    // Resends of invites that never come: each replay fails again at once
    // and lands back in the queue while the replay is still running.
    for i in 0..3 {
        let body = json!({"name": "invite.resent", "data": {"id": format!("inv_never_{i}")}});
        app.publish_raw(
            "invite.resent",
            body.to_string().as_bytes(),
            with_id(&format!("never-{i}")),
        )
        .await;
    }
    let dlq = app.settings.broker.dead_letter_name();
    wait_until("three dead letters", || async {
        app.queue_len(&dlq).await == 3
    })
    .await;
    let replay = |limit: &str| {
        herald_ok(&app, &["dead-letters", "replay", "--limit", limit])
            .trim()
            .to_owned()
    };
    assert_eq!(replay("2"), "replayed 2");
    wait_until("both back", || async { app.queue_len(&dlq).await == 3 }).await;
    assert_eq!(
        replay("100"),
        "replayed 3",
        "never a message twice in one run"
    );
    wait_until("all back", || async { app.queue_len(&dlq).await == 3 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_outlives_the_events_own_expiration() {
    let app = TestApp::spawn().await;
    // The event may sit in Herald's queue for a minute; its dead letter
    // waits for an operator however long that takes.
    let props = with_id("short-lived").with_expiration("60000".into());
    app.publish_raw("user.created", b"{not json", props).await;
    let dlq = app.settings.broker.dead_letter_name();
    wait_until("dead letter", || async { app.queue_len(&dlq).await == 1 }).await;
    let dead = app.take_dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        dead[0].properties.message_id().as_ref().unwrap().as_str(),
        "short-lived"
    );
    assert!(
        dead[0].properties.expiration().is_none(),
        "the dead letter carries no expiration"
    );
}
