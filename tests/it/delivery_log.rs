//! The delivery log: `GET /v1/events/{id}` shows everything an event caused,
//! with every SMTP and webhook attempt, and `GET /v1/events?email=` finds a
//! person's events. Real SMTP server and webhook receiver, scripted to fail
//! once.

use crate::helpers::{Options, TestApp, wait_until};
use crate::receiver::{Receiver, Reply as Http};
use crate::smtp_sink::Reply as Smtp;
use herald::settings::Schedule;
use serde_json::{Value, json};
use std::time::Duration;

/// A worker-less app whose worker, once started, retries webhooks fast and
/// may reach 127.0.0.1.
async fn app() -> TestApp {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let s = &mut app.worker_settings;
    s.webhook_retry_schedule = Schedule(vec![Duration::from_millis(50); 3]);
    s.targets.webhook_allow_private = true;
    app
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

fn column<'a>(items: &'a Value, key: &str) -> Vec<&'a Value> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item[key])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invites_log_shows_its_email_and_webhook_with_every_attempt() {
    let mut app = app().await;
    let receiver = Receiver::start(vec![Http::Status(500)]).await;
    let (endpoint, secret) = app.register(&receiver.url(), &[]).await;
    app.smtp.script(&[Smtp::Code(451)]);
    app.start_worker();
    let event = app
        .publish(
            "invite.created",
            json!({"id": "inv-ada", "email": "ada@example.com", "role": "admin"}),
        )
        .await;
    let (_, token) = app.next_token().await;
    receiver.wait_for(2).await;
    wait_until("the email and the delivery final", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await
            == 1
            && app
                .count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                .await
                == 1
    })
    .await;

    let response = app.get(&format!("/v1/events/{event}")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&token), "the log shows no token");
    assert!(!text.contains(&secret), "the log shows no endpoint secret");
    let log: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(log["event"]["id"], event.as_str());
    assert_eq!(log["event"]["type"], "invite.created");
    assert!(log["event"]["time"].is_string() && log["event"]["processed_at"].is_string());

    let emails = log["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["template"], "invite");
    assert_eq!(emails[0]["recipient"], "ada@example.com");
    assert_eq!(emails[0]["status"], "sent");
    let attempts = &emails[0]["attempts"];
    assert_eq!(column(attempts, "smtp_code"), [&json!(451), &json!(250)]);
    assert_eq!(
        column(attempts, "outcome"),
        [&json!("transient"), &json!("sent")]
    );
    assert!(attempts[0]["reply"].as_str().unwrap().contains("try again"));

    let webhooks = log["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0]["endpoint_id"], endpoint.to_string());
    assert_eq!(webhooks[0]["endpoint_url"], receiver.url());
    assert_eq!(webhooks[0]["status"], "delivered");
    let attempts = &webhooks[0]["attempts"];
    assert_eq!(column(attempts, "status_code"), [&json!(500), &json!(200)]);
    assert_eq!(
        column(attempts, "outcome"),
        [&json!("retry"), &json!("delivered")]
    );
    assert!(attempts[1]["latency_ms"].is_number());

    let unknown = app.get("/v1/events/no-such-event").await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_events_are_found_by_email() {
    let mut app = app().await;
    app.start_worker();
    let created = app
        .publish(
            "invite.created",
            json!({"id": "inv-ada", "email": "ada@example.com"}),
        )
        .await;
    let (_, token) = app.next_token().await;
    let other = app
        .publish(
            "user.created",
            json!({"id": "u-bob", "email": "bob@example.com"}),
        )
        .await;
    app.smtp.next_email().await;
    // The accept publishes `invite.accepted` ({id} only), which comes back
    // to Herald's queue and is processed too.
    let accepted = app
        .post("/v1/invites/accept", json!({ "token": token }))
        .await;
    assert_eq!(accepted.status(), 200);
    app.wait_processed(3).await;

    let found = json_of(&app, "/v1/events?email=ADA@example.com").await;
    assert_eq!(found["count"], 2);
    let types = column(&found["events"], "type");
    assert_eq!(
        types,
        [&json!("invite.accepted"), &json!("invite.created")],
        "newest first"
    );
    assert_eq!(found["events"][1]["id"], created.as_str());
    let ids = column(&found["events"], "id");
    assert!(!ids.contains(&&json!(other)));

    let only = json_of(&app, "/v1/events?email=ada@example.com&type=invite.created").await;
    assert_eq!(only["count"], 1);
    assert_eq!(only["events"][0]["id"], created.as_str());

    let bob = json_of(&app, "/v1/events?email=bob@example.com&limit=1").await;
    assert_eq!(bob["count"], 1);
    assert_eq!(bob["limit"], 1);
    assert_eq!(bob["events"][0]["id"], other.as_str());

    let all = json_of(&app, "/v1/events").await;
    assert_eq!(all["count"], 3);
    let bad = app.get("/v1/events?limit=0").await;
    assert_eq!(bad.status(), 400);
}
