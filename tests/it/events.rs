//! Each event kind's documented effect on the tables.

use crate::helpers::{TestApp, sha256};
use chrono::{DateTime, SubsecRound, Utc};
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde_json::json;

type ResetRow = (Vec<u8>, Option<DateTime<Utc>>, DateTime<Utc>);
type InviteRow = (
    String,
    String,
    String,
    Vec<u8>,
    DateTime<Utc>,
    serde_json::Value,
);

async fn invite(app: &TestApp, id: &str) -> InviteRow {
    sqlx::query_as(
        "SELECT email, role, status, token_hash, expires_at, metadata FROM invites WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_created_records_the_invite_and_queues_its_email() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_1", "email": "Ada@Example.com", "role": "admin", "first_name": "Ada",
               "invited_by": "grace@example.com", "metadata": {"team": "ops"}}),
    )
    .await;
    app.wait_processed(1).await;

    let (email, role, status, hash, expires_at, metadata) = invite(&app, "inv_1").await;
    assert_eq!(
        (email.as_str(), role.as_str(), status.as_str()),
        ("Ada@example.com", "admin", "pending")
    );
    assert_eq!(metadata, json!({"team": "ops"}));
    let ttl = expires_at - Utc::now();
    assert!(
        ttl > chrono::Duration::days(7) - chrono::Duration::minutes(1)
            && ttl <= chrono::Duration::days(7)
    );

    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    let row = &outbox[0];
    assert_eq!(
        (row.template.as_str(), row.recipient.as_str()),
        ("invite", "Ada@example.com")
    );
    assert_eq!(row.data["invited_by"], "grace@example.com");
    assert_eq!(row.data["role"], "admin");
    let (to, token) = app.next_token().await;
    assert_eq!(to, "Ada@example.com");
    assert_eq!(token.len(), 43);
    assert_eq!(
        sha256(&token),
        hash,
        "the stored hash is the hash of the emailed token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medusa_invite_with_aliases_and_upstream_token() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "invite.created",
                      "data": {"id": "inv_m", "user_email": "bob@example.com", "token": "upstream-token-0123456789"},
                      "metadata": {"source": "medusa"}});
    let props = BasicProperties::default().with_message_id("medusa-1".into());
    app.publish_raw("invite.created", body.to_string().as_bytes(), props)
        .await;
    app.wait_processed(1).await;
    let (email, role, _, hash, _, _) = invite(&app, "inv_m").await;
    assert_eq!(
        (email.as_str(), role.as_str()),
        ("bob@example.com", "member")
    );
    assert_eq!(hash, sha256("upstream-token-0123456789"));
    assert_eq!(app.next_token().await.1, "upstream-token-0123456789");
    let id: String = sqlx::query_scalar("SELECT event_id FROM processed_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(id, "medusa-1", "the AMQP message-id is the event id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_resent_rotates_the_token_and_resets_the_expiry() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_r", "email": "c@example.com"}),
    )
    .await;
    app.wait_processed(1).await;
    // Sent first: an invite email whose invite expires before it goes out
    // ends `expired`, unsent.
    let (_, old_token) = app.next_token().await;
    sqlx::query("UPDATE invites SET expires_at = now() - interval '1 day' WHERE id = 'inv_r'")
        .execute(&app.pool)
        .await
        .unwrap();

    app.publish("invite.resent", json!({"id": "inv_r"})).await;
    app.wait_processed(2).await;
    let (_, _, status, hash, expires_at, _) = invite(&app, "inv_r").await;
    let outbox = app.outbox().await;
    let (_, new_token) = app.next_token().await;
    assert_eq!(outbox[1].template, "invite");
    assert_ne!(new_token, old_token);
    assert_ne!(hash, sha256(&old_token), "the old token no longer matches");
    assert_eq!(hash, sha256(&new_token));
    assert_eq!(status, "pending");
    assert!(
        expires_at > Utc::now() + chrono::Duration::days(6),
        "expiry reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_accepted_marks_it_and_a_later_resend_is_dead_lettered() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_a", "email": "d@example.com"}),
    )
    .await;
    app.publish("invite.accepted", json!({"id": "inv_a"})).await;
    app.publish("invite.accepted", json!({"id": "inv_unknown"}))
        .await;
    app.wait_processed(3).await;
    assert_eq!(invite(&app, "inv_a").await.2, "accepted");

    app.publish("invite.resent", json!({"id": "inv_a"})).await;
    crate::helpers::wait_until("dead letter", || async {
        app.queue_len(&app.settings.broker.dead_letter_name()).await == 1
    })
    .await;
    let dead = app.take_dead_letters().await;
    let reason = crate::helpers::header(&dead[0].properties, "x-herald-error").unwrap();
    assert!(reason.contains("accepted"), "{reason}");
    assert_eq!(
        app.outbox().await.len(),
        1,
        "no email for the refused resend"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_reset_request_invalidates_the_first_token() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.password_reset",
        json!({"email": "e@example.com", "user_id": "u1", "first_name": "E"}),
    )
    .await;
    app.publish(
        "user.password_reset",
        json!({"email": "E@EXAMPLE.COM", "user_id": "u1"}),
    )
    .await;
    app.wait_processed(2).await;
    let rows: Vec<ResetRow> = sqlx::query_as(
        "SELECT token_hash, invalidated_at, expires_at FROM password_reset_tokens ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let outbox = app.outbox().await;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].1.is_some(), "first token invalidated");
    assert!(rows[1].1.is_none(), "second token live");
    assert_eq!(outbox[1].template, "password_reset");
    // Both emails go out; one carries the live token, one the invalidated.
    let hashes = [
        sha256(&app.next_token().await.1),
        sha256(&app.next_token().await.1),
    ];
    assert!(hashes.contains(&rows[0].0) && hashes.contains(&rows[1].0));
    let ttl = rows[1].2 - Utc::now();
    assert!(ttl > chrono::Duration::minutes(59) && ttl <= chrono::Duration::hours(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn medusa_auth_reset_takes_its_token_and_other_actors_get_no_email() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "auth.password_reset",
                      "data": {"entity_id": "f@example.com", "actorType": "user", "token": "medusa-jwt-abcdefghijklmnop"}});
    app.publish_raw(
        "auth.password_reset",
        body.to_string().as_bytes(),
        BasicProperties::default().with_message_id("m-r1".into()),
    )
    .await;
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "g@example.com", "actor_type": "customer"}),
    )
    .await;
    app.wait_processed(2).await;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(hashes, vec![sha256("medusa-jwt-abcdefghijklmnop")]);
    let outbox = app.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].recipient, "f@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_events_welcome_email_and_deleted_users_lose_their_reset_tokens() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "h@example.com", "first_name": "H"}),
    )
    .await;
    app.publish("user.created", json!({"id": "u2"})).await;
    app.publish("user.updated", json!({"id": "u1"})).await;
    app.publish(
        "user.password_reset",
        json!({"email": "h@example.com", "user_id": "u1"}),
    )
    .await;
    app.publish(
        "user.password_reset",
        json!({"email": "i@example.com", "user_id": "u9"}),
    )
    .await;
    app.wait_processed(5).await;
    app.publish("user.deleted", json!({"id": "u1"})).await;
    app.wait_processed(6).await;

    let outbox = app.outbox().await;
    let welcome: Vec<_> = outbox.iter().filter(|r| r.template == "welcome").collect();
    assert_eq!(welcome.len(), 1);
    assert_eq!(welcome[0].recipient, "h@example.com");
    assert!(welcome[0].token.is_none());
    let live: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM password_reset_tokens WHERE invalidated_at IS NULL AND used_at IS NULL",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        live,
        vec!["i@example.com".to_owned()],
        "only the deleted user's token stopped working"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_mode_cloudevents_with_either_prefix() {
    let app = TestApp::spawn().await;
    for (prefix, id) in [("cloudEvents:", "bin-1"), ("cloudEvents_", "bin-2")] {
        let mut headers = FieldTable::default();
        for (k, v) in [
            ("specversion", "1.0"),
            ("id", id),
            ("type", "user.created"),
            ("source", "test"),
        ] {
            headers.insert(
                format!("{prefix}{k}").into(),
                AMQPValue::LongString(LongString::from(v)),
            );
        }
        let body = json!({"id": id, "email": format!("{id}@example.com")});
        app.publish_raw(
            "user.created",
            body.to_string().as_bytes(),
            BasicProperties::default().with_headers(headers),
        )
        .await;
    }
    app.wait_processed(2).await;
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT event_id FROM processed_events ORDER BY event_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(ids, ["bin-1", "bin-2"]);
    assert_eq!(app.outbox().await.len(), 2);
}

/// Waits for one dead letter and returns its `x-herald-error`.
async fn one_dead_letter(app: &TestApp) -> String {
    let dlq = app.settings.broker.dead_letter_name();
    crate::helpers::wait_until("a dead letter", || async { app.queue_len(&dlq).await >= 1 }).await;
    let dead = app.take_dead_letters().await;
    assert_eq!(dead.len(), 1, "exactly one dead letter");
    crate::helpers::header(&dead[0].properties, "x-herald-error").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_user_id_is_dead_lettered_and_the_invite_after_it_is_sent() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    // 8 KB of incompressible text: PostgreSQL would refuse it as an index
    // row (54000), which once stalled the queue.
    let mut random = vec![0u8; 6144];
    getrandom::getrandom(&mut random).unwrap();
    let user_id = base64::engine::general_purpose::STANDARD.encode(&random);
    assert_eq!(user_id.len(), 8192);
    app.publish(
        "user.password_reset",
        json!({"email": "poison@example.com", "user_id": user_id}),
    )
    .await;
    app.publish(
        "invite.created",
        json!({"id": "inv_after", "email": "after@example.com"}),
    )
    .await;
    let (to, _) = app.next_token().await;
    assert_eq!(to, "after@example.com", "the invite behind it is emailed");
    let reason = one_dead_letter(&app).await;
    assert!(
        reason.contains("user_id") && reason.contains("8192"),
        "{reason}"
    );
    assert!(!reason.contains(&user_id[..64]), "the value is not quoted");
    assert_eq!(
        app.count("SELECT count(*) FROM password_reset_tokens")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_expires_at_sets_the_stored_expiry_and_the_email_wording() {
    let app = TestApp::spawn().await;
    let invite_expiry = (Utc::now() + chrono::Duration::days(3)).trunc_subsecs(3);
    let reset_expiry = (Utc::now() + chrono::Duration::minutes(15)).trunc_subsecs(3);
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.publish(
        "invite.created",
        json!({"id": "inv_x", "email": "x@example.com", "expires_at": iso(invite_expiry)}),
    )
    .await;
    let invite_mail = text_of(&app.smtp.next_email().await);
    app.publish(
        "user.password_reset",
        json!({"email": "y@example.com", "expires_at": iso(reset_expiry)}),
    )
    .await;
    let reset_mail = text_of(&app.smtp.next_email().await);

    assert_eq!(invite(&app, "inv_x").await.4, invite_expiry);
    let stored: DateTime<Utc> = sqlx::query_scalar("SELECT expires_at FROM password_reset_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, reset_expiry);
    let date = |t: DateTime<Utc>| t.format("%-d %B %Y, %H:%M UTC").to_string();
    assert!(
        invite_mail.contains(&format!("expires in 3 days ({})", date(invite_expiry))),
        "{invite_mail}"
    );
    assert!(
        reset_mail.contains(&format!("expires in 15 minutes ({})", date(reset_expiry))),
        "{reset_mail}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_past_or_unreadable_expires_at_is_dead_lettered() {
    let app = TestApp::spawn().await;
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "p@example.com", "actor_type": "user",
               "token": "medusa-jwt-abcdefghijklmnop", "expires_at": past}),
    )
    .await;
    let reason = one_dead_letter(&app).await;
    assert!(
        reason.contains("expires_at") && reason.contains("already past"),
        "{reason}"
    );
    assert!(!reason.contains("medusa-jwt"), "no token in the reason");
    app.publish(
        "invite.created",
        json!({"id": "inv_p", "email": "p@example.com", "expires_at": "in a week"}),
    )
    .await;
    let reason = one_dead_letter(&app).await;
    assert!(
        reason.contains("expires_at") && reason.contains("RFC 3339"),
        "{reason}"
    );
    assert_eq!(app.processed().await, 0);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_deleted_revokes_its_token_and_an_unknown_id_is_only_forwarded() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_d", "email": "d@example.com"}),
    )
    .await;
    let (_, token) = app.next_token().await;
    let validate = || app.post("/v1/invites/validate", json!({"token": token}));
    assert_eq!(validate().await.status(), 200);

    app.publish("invite.deleted", json!({"id": "inv_d"})).await;
    app.publish("invite.deleted", json!({"id": "inv_never_seen"}))
        .await;
    app.wait_processed(3).await;
    assert_eq!(invite(&app, "inv_d").await.2, "revoked");
    assert_eq!(validate().await.status(), 404, "the token stopped working");
    let dlq = app.settings.broker.dead_letter_name();
    assert_eq!(
        app.queue_len(&dlq).await,
        0,
        "an unknown id is no dead letter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_deleted_with_an_email_revokes_tokens_minted_for_that_address() {
    let app = TestApp::spawn().await;
    // Medusa v2's reset names only the address (entity_id), never the user id.
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "gone@example.com", "actor_type": "user"}),
    )
    .await;
    app.publish(
        "user.password_reset",
        json!({"email": "stays@example.com", "user_id": "u_stays"}),
    )
    .await;
    app.wait_processed(2).await;
    app.publish(
        "user.deleted",
        json!({"id": "u_gone", "email": "Gone@Example.com"}),
    )
    .await;
    app.wait_processed(3).await;
    let live: Vec<String> = sqlx::query_scalar(
        "SELECT email FROM password_reset_tokens WHERE invalidated_at IS NULL AND used_at IS NULL",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(live, vec!["stays@example.com".to_owned()]);
}

fn text_of(received: &crate::smtp_sink::Received) -> String {
    mail_parser::MessageParser::default()
        .parse(&received.data)
        .expect("valid MIME")
        .body_text(0)
        .expect("a text part")
        .into_owned()
}
