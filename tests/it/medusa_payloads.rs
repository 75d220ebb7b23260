//! Every payload shape Medusa v1 and v2 emit for users, invites and password
//! resets, taken from Medusa's source (the file is named above each one),
//! published through the real RabbitMQ to a real worker, with what each does
//! to the tables, the SMTP sink and a webhook receiver.
//!
//! Medusa v1 (`@medusajs/medusa` 1.20.x) publishes `{name, data}` on its bus.
//! Medusa v2's workflows emit `{name, data: {id}, metadata: {eventGroupId}}`;
//! Herald's Medusa plugin enriches them through Medusa's Query and publishes
//! CloudEvents, so the v2 tests send both the bare and the enriched shapes.

use crate::helpers::{Options, TestApp, header, sha256, wait_until};
use crate::receiver::{Received, Receiver};
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use lapin::BasicProperties;
use serde_json::{Value, json};

/// Medusa's tokens are JWTs (header.payload.signature, base64url).
const V1_INVITE_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJpbnZpdGVfaWQiOiJpbnZpdGVfMDEiLCJyb2xlIjoibWVtYmVyIn0.c2lnbmF0dXJlLW9uZQ";
const V1_RESEND_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJpbnZpdGVfaWQiOiJpbnZpdGVfMDEiLCJyb2xlIjoibWVtYmVyIn0.c2lnbmF0dXJlLXR3bw";
const V1_RESET_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoidXNyXzAxIiwiZXhwIjoxfQ.cmVzZXQtc2lnbmF0dXJl";
const V2_INVITE_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6Imludml0ZV8wMUpCIiwiZW1haWwiOiJ4In0.djItaW52aXRlLW9uZQ";
const V2_RESEND_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6Imludml0ZV8wMUpCIiwiZW1haWwiOiJ4In0.djItaW52aXRlLXR3bw";
const V2_RESET_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJlbnRpdHlfaWQiOiJhZG1pbkBzdG9yZS50ZXN0In0.djItcmVzZXQtc2ln";

/// A worker with one webhook endpoint subscribed to every type.
async fn medusa_app() -> (TestApp, Receiver) {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    let hooks = Receiver::start(Vec::new()).await;
    let url = hooks.url();
    app.register(&url, &[]).await;
    app.start_worker();
    (app, hooks)
}

/// A Medusa event-bus message, with the AMQP message-id a bridge derives.
async fn bus(app: &TestApp, message_id: &str, message: Value) {
    let name = message["name"].as_str().unwrap().to_owned();
    let props = BasicProperties::default().with_message_id(message_id.into());
    app.publish_raw(&name, message.to_string().as_bytes(), props)
        .await;
}

async fn validate(app: &TestApp, token: &str) -> u16 {
    app.post("/v1/invites/validate", json!({"token": token}))
        .await
        .status()
        .as_u16()
}

/// Waits for `n` webhooks; returns their types, sorted, after checking that
/// no body carries any of `tokens`.
async fn webhook_types(hooks: &Receiver, n: usize, tokens: &[&str]) -> Vec<String> {
    let received: Vec<Received> = hooks.wait_for(n).await;
    assert_eq!(received.len(), n, "exactly {n} webhooks");
    let mut types: Vec<String> = received
        .iter()
        .map(|r| {
            for token in tokens {
                assert!(!r.body.contains(token), "a token in a webhook: {}", r.body);
            }
            let body: Value = serde_json::from_str(&r.body).unwrap();
            body["type"].as_str().unwrap().to_owned()
        })
        .collect();
    types.sort();
    types
}

fn parsed(received: &crate::smtp_sink::Received) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(&received.data)
        .expect("valid MIME")
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_invite_created_is_sent_and_its_re_emission_with_a_new_token_is_a_resend() {
    let (app, hooks) = medusa_app().await;
    // packages/medusa/src/services/invite.ts (v1.20.x), InviteService.create:
    // emit("invite.created", {id, token, user_email}); v1 invites carry no
    // expiry in the event and no role.
    let created = json!({"name": "invite.created",
        "data": {"id": "invite_01", "token": V1_INVITE_TOKEN, "user_email": "v1@store.test"}});
    bus(&app, "v1-created", created).await;
    let (to, token) = app.next_token().await;
    assert_eq!(
        (to.as_str(), token.as_str()),
        ("v1@store.test", V1_INVITE_TOKEN)
    );
    assert_eq!(validate(&app, V1_INVITE_TOKEN).await, 200);

    // Same file, InviteService.resend (and create for an invite that exists):
    // emit("invite.created", {id, token, user_email}) with the same id and a
    // new token.
    let resent = json!({"name": "invite.created",
        "data": {"id": "invite_01", "token": V1_RESEND_TOKEN, "user_email": "v1@store.test"}});
    bus(&app, "v1-resent", resent.clone()).await;
    let second = app.smtp.next_email().await;
    let text = parsed(&second).body_text(0).unwrap().into_owned();
    assert!(
        text.contains(V1_RESEND_TOKEN),
        "the resend carries the new token"
    );
    assert_eq!(
        parsed(&second).subject(),
        Some("You are invited to join the team"),
        "no role was given, so none is claimed"
    );
    assert!(!text.contains(" as "), "{text}");
    assert_eq!(
        validate(&app, V1_INVITE_TOKEN).await,
        404,
        "old token stops"
    );
    assert_eq!(
        validate(&app, V1_RESEND_TOKEN).await,
        200,
        "new token works"
    );
    let expires_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT expires_at FROM invites WHERE id = 'invite_01'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        expires_at > Utc::now() + chrono::Duration::days(6),
        "expiry reset"
    );

    // The same occurrence published again under another id (the same token):
    // changes nothing and sends nothing, but is forwarded.
    bus(&app, "v1-resent-again", resent).await;
    app.wait_processed(3).await;
    assert_eq!(app.outbox().await.len(), 2, "no third email");
    let types = webhook_types(&hooks, 3, &[V1_INVITE_TOKEN, V1_RESEND_TOKEN]).await;
    assert_eq!(types, ["invite.created"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_password_reset_and_user_events() {
    let (app, hooks) = medusa_app().await;
    // packages/medusa/src/services/user.ts (v1.20.x),
    // UserService.generateResetPasswordToken: emit("user.password_reset",
    // {email, token}); the JWT's own expiry (15 minutes) is not in the event.
    let reset = json!({"name": "user.password_reset",
        "data": {"email": "admin@store.test", "token": V1_RESET_TOKEN}});
    bus(&app, "v1-reset", reset).await;
    // Same file: create, update and delete emit {id} only.
    for (id, name) in [
        ("v1-uc", "user.created"),
        ("v1-uu", "user.updated"),
        ("v1-ud", "user.deleted"),
    ] {
        bus(&app, id, json!({"name": name, "data": {"id": "usr_01"}})).await;
    }
    let (to, token) = app.next_token().await;
    assert_eq!(
        (to.as_str(), token.as_str()),
        ("admin@store.test", V1_RESET_TOKEN)
    );
    app.wait_processed(4).await;
    let hash: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(hash, sha256(V1_RESET_TOKEN));
    assert_eq!(app.outbox().await.len(), 1, "no welcome without an address");
    let types = webhook_types(&hooks, 4, &[V1_RESET_TOKEN]).await;
    assert_eq!(
        types,
        [
            "user.created",
            "user.deleted",
            "user.password_reset",
            "user.updated"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_bare_events_are_forwarded_and_a_bare_invite_is_dead_lettered_with_why() {
    let (app, hooks) = medusa_app().await;
    let group = json!({"eventGroupId": "01JBGROUP"});
    // packages/core/core-flows/src/invite/workflows/create-invites.ts:
    // emitEventStep({eventName: "invite.created", data: [{id}]}), one
    // message per invite, metadata {eventGroupId}.
    bus(
        &app,
        "v2-ic",
        json!({"name": "invite.created", "data": {"id": "invite_01JB"}, "metadata": group}),
    )
    .await;
    // .../invite/workflows/refresh-invite-tokens.ts: "invite.resent" {id}.
    bus(
        &app,
        "v2-ir",
        json!({"name": "invite.resent", "data": {"id": "invite_01JB"}, "metadata": group}),
    )
    .await;
    // .../invite/workflows/accept-invite.ts: "invite.accepted" {id}.
    bus(
        &app,
        "v2-ia",
        json!({"name": "invite.accepted", "data": {"id": "invite_01JB"}, "metadata": group}),
    )
    .await;
    // .../invite/workflows/delete-invites.ts: "invite.deleted" {id}.
    bus(
        &app,
        "v2-id",
        json!({"name": "invite.deleted", "data": {"id": "invite_01JB"}, "metadata": group}),
    )
    .await;
    // packages/core/core-flows/src/user/workflows/{create,update,delete}-users.ts:
    // "user.created" / "user.updated" / "user.deleted" {id}.
    for (id, name) in [
        ("v2-uc", "user.created"),
        ("v2-uu", "user.updated"),
        ("v2-ud", "user.deleted"),
    ] {
        bus(
            &app,
            id,
            json!({"name": name, "data": {"id": "user_01JB"}, "metadata": group}),
        )
        .await;
    }
    // packages/core/core-flows/src/auth/workflows/generate-reset-password-token.ts
    // (2.0): "auth.password_reset" {entity_id, actorType, token}.
    bus(
        &app,
        "v2-ar",
        json!({"name": "auth.password_reset",
        "data": {"entity_id": "admin@store.test", "actorType": "user", "token": V2_RESET_TOKEN},
        "metadata": group}),
    )
    .await;

    let (to, token) = app.next_token().await;
    assert_eq!(
        (to.as_str(), token.as_str()),
        ("admin@store.test", V2_RESET_TOKEN)
    );
    let dlq = app.settings.broker.dead_letter_name();
    wait_until("two dead letters", || async {
        app.queue_len(&dlq).await == 2
    })
    .await;
    app.wait_processed(6).await;
    let mut reasons: Vec<(String, String)> = app
        .take_dead_letters()
        .await
        .iter()
        .map(|d| {
            (
                d.routing_key.to_string(),
                header(&d.properties, "x-herald-error").unwrap(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons[0].0, "invite.created");
    assert!(
        reasons[0].1.contains("missing field `email`") && reasons[0].1.contains("Medusa plugin"),
        "{}",
        reasons[0].1
    );
    assert_eq!(reasons[1].0, "invite.resent");
    assert!(reasons[1].1.contains("unknown invite"), "{}", reasons[1].1);
    assert_eq!(app.outbox().await.len(), 1, "only the reset is emailed");
    let types = webhook_types(&hooks, 6, &[V2_RESET_TOKEN]).await;
    assert_eq!(
        types,
        [
            "auth.password_reset",
            "invite.accepted",
            "invite.deleted",
            "user.created",
            "user.deleted",
            "user.updated"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_enriched_invites_carry_medusas_token_and_expiry() {
    let (app, hooks) = medusa_app().await;
    // The plugin's invite.created: create-invites.ts's {id} plus what
    // query.graph({entity: "invite", fields: ["id", "email", "token",
    // "expires_at", "metadata"]}) returns (packages/modules/user's Invite
    // model; its token is a JWT, expires_at a Date, serialized as ISO).
    let expires = (Utc::now() + chrono::Duration::days(7)).trunc_subsecs(3);
    app.publish(
        "invite.created",
        json!({"id": "invite_01JB", "email": "new@store.test", "token": V2_INVITE_TOKEN,
               "expires_at": iso(expires), "metadata": {}}),
    )
    .await;
    let first = app.smtp.next_email().await;
    let text = parsed(&first).body_text(0).unwrap().into_owned();
    assert!(
        text.contains(V2_INVITE_TOKEN),
        "Medusa's own token is carried"
    );
    assert!(text.contains("expires in 7 days"), "{text}");
    assert!(
        text.contains("to join the team.") && !text.contains(" as "),
        "{text}"
    );
    let stored: DateTime<Utc> =
        sqlx::query_scalar("SELECT expires_at FROM invites WHERE id = 'invite_01JB'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, expires);

    // The plugin's invite.resent: refresh-invite-tokens.ts's {id}, enriched
    // the same way after Medusa rotated the token and its expiry.
    let renewed = (Utc::now() + chrono::Duration::days(2)).trunc_subsecs(3);
    app.publish(
        "invite.resent",
        json!({"id": "invite_01JB", "email": "new@store.test", "token": V2_RESEND_TOKEN,
               "expires_at": iso(renewed), "metadata": {}}),
    )
    .await;
    let (_, token) = app.next_token().await;
    assert_eq!(token, V2_RESEND_TOKEN);
    assert_eq!(validate(&app, V2_INVITE_TOKEN).await, 404);
    assert_eq!(validate(&app, V2_RESEND_TOKEN).await, 200);

    // accept-invite.ts's {id}: Medusa deletes the invite as it accepts, so
    // the plugin has nothing to add.
    app.publish("invite.accepted", json!({"id": "invite_01JB"}))
        .await;
    app.wait_processed(3).await;
    assert_eq!(validate(&app, V2_RESEND_TOKEN).await, 409, "accepted");

    // delete-invites.ts's {id}: the invite is gone from Medusa, so the plugin
    // forwards the id alone.
    app.publish(
        "invite.created",
        json!({"id": "invite_01JC", "email": "other@store.test", "metadata": {"team": "ops"}}),
    )
    .await;
    let (_, minted) = app.next_token().await;
    app.publish("invite.deleted", json!({"id": "invite_01JC"}))
        .await;
    app.wait_processed(5).await;
    assert_eq!(validate(&app, &minted).await, 404, "revoked");

    let tokens = [V2_INVITE_TOKEN, V2_RESEND_TOKEN, minted.as_str()];
    let types = webhook_types(&hooks, 5, &tokens).await;
    assert_eq!(
        types,
        [
            "invite.accepted",
            "invite.created",
            "invite.created",
            "invite.deleted",
            "invite.resent"
        ]
    );
    let body = |ty: &str| {
        hooks
            .received()
            .into_iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap())
            .find(|b| b["type"] == ty)
            .unwrap()
    };
    let accepted = body("invite.accepted");
    assert_eq!(accepted["data"]["status"], "accepted");
    assert_eq!(accepted["data"]["email"], "new@store.test");
    let deleted = body("invite.deleted");
    assert_eq!(
        deleted["data"]["status"], "revoked",
        "the invite as it now stands"
    );
    assert_eq!(deleted["data"]["email"], "other@store.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_enriched_resets_and_users() {
    let (app, hooks) = medusa_app().await;
    // Medusa 2.21's generate-reset-password-token.ts emits {entity_id,
    // actor_type, token, metadata}; the plugin adds expires_at from the
    // JWT's `exp` (15 minutes).
    let expires = (Utc::now() + chrono::Duration::minutes(15)).trunc_subsecs(0);
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "admin@store.test", "actor_type": "user", "token": V2_RESET_TOKEN,
               "expires_at": iso(expires), "metadata": {}}),
    )
    .await;
    let reset = app.smtp.next_email().await;
    let text = parsed(&reset).body_text(0).unwrap().into_owned();
    assert!(
        text.contains(V2_RESET_TOKEN) && text.contains("expires in 15 minutes"),
        "{text}"
    );
    let stored: DateTime<Utc> = sqlx::query_scalar("SELECT expires_at FROM password_reset_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, expires, "the stored expiry is Medusa's");
    // The same event for a store customer: forwarded only, whatever its
    // entity_id looks like.
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "cus_01JB", "actor_type": "customer", "token": V2_RESET_TOKEN}),
    )
    .await;
    // The plugin's user.created: create-users.ts's {id} plus the user's
    // email and names from query.graph({entity: "user"}); names may be null.
    app.publish(
        "user.created",
        json!({"id": "user_01JB", "email": "admin@store.test", "first_name": "Ada", "last_name": null}),
    )
    .await;
    let welcome = app.smtp.next_email().await;
    assert_eq!(parsed(&welcome).subject(), Some("Welcome, Ada"));
    // delete-users.ts's {id}, enriched with the address the plugin read
    // before the deletion: the address's reset token stops working.
    app.publish(
        "user.deleted",
        json!({"id": "user_01JB", "email": "admin@store.test"}),
    )
    .await;
    app.wait_processed(4).await;
    // Once its deliveries are final the user is erased (`erasure::`), token
    // and emails included; until then the token is revoked.
    let live = app
        .count("SELECT count(*) FROM password_reset_tokens WHERE invalidated_at IS NULL")
        .await;
    assert_eq!(live, 0, "revoked with its user");
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE recipient <> 'admin@store.test'")
            .await,
        0,
        "no email for the customer"
    );
    let types = webhook_types(&hooks, 4, &[V2_RESET_TOKEN]).await;
    assert_eq!(
        types,
        [
            "auth.password_reset",
            "auth.password_reset",
            "user.created",
            "user.deleted"
        ]
    );
}
