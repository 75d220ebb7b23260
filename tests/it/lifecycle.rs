//! Herald's own lifecycle events (`email.sent`, `email.failed`,
//! `webhook.endpoint.disabled`) reach the exchange through the relay, and
//! the webhook endpoints that name them.

use crate::helpers::{Options, TestApp, wait_until};
use crate::receiver::{Receiver, Reply};
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::{Value, json};

/// A worker that may call webhook receivers on 127.0.0.1.
async fn app_with_local_webhooks() -> TestApp {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    app.start_worker();
    app
}

/// A queue of the test's own, bound to the test exchange for `keys`.
pub async fn listen(app: &TestApp, keys: &[&str]) -> String {
    let queue = format!("lifecycle.{}", uuid::Uuid::new_v4().simple());
    let opts = QueueDeclareOptions {
        exclusive: true,
        auto_delete: true,
        ..Default::default()
    };
    app.channel
        .queue_declare(queue.as_str().into(), opts, FieldTable::default())
        .await
        .unwrap();
    for key in keys {
        app.channel
            .queue_bind(
                queue.as_str().into(),
                app.settings.broker.exchange.as_str().into(),
                (*key).into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
    }
    queue
}

/// Waits for the next message on `queue` and returns its routing key and body.
pub async fn next_event(app: &TestApp, queue: &str) -> (String, Value) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let got = loop {
        let got = app
            .channel
            .basic_get(queue.into(), BasicGetOptions::default())
            .await
            .unwrap();
        if let Some(got) = got {
            break got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for an event on {queue}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let msg = got.delivery;
    msg.acker.ack(BasicAckOptions::default()).await.unwrap();
    let body = serde_json::from_slice(&msg.data).unwrap();
    (msg.routing_key.to_string(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_sent_reaches_the_exchange_and_subscribed_endpoints_only() {
    let app = app_with_local_webhooks().await;
    let queue = listen(&app, &["email.sent", "email.failed"]).await;
    let named = Receiver::always(Reply::Status(200)).await;
    let every = Receiver::always(Reply::Status(200)).await;
    app.register(&named.url(), &["email.sent"]).await;
    app.register(&every.url(), &[]).await;
    let event_id = app
        .publish(
            "user.created",
            json!({"id": "u1", "email": "ada@example.com"}),
        )
        .await;
    app.smtp.next_email().await;
    let (key, body) = next_event(&app, &queue).await;
    assert_eq!(key, "email.sent");
    assert_eq!(body["type"], "email.sent");
    assert_eq!(body["source"], "herald");
    let data = &body["data"];
    assert_eq!(data["event_id"], event_id.as_str());
    assert_eq!(data["template"], "welcome");
    assert_eq!(data["recipient"], "ada@example.com");
    assert_eq!(data["status"], "sent");
    assert_eq!(data["attempts"], 1);
    assert_eq!(data["smtp_code"], 250);
    assert!(data["id"].as_str().is_some());
    // The endpoint naming the type gets it; one for every type gets only
    // the event Herald consumed.
    let got = named.wait_for(1).await;
    let hook: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(hook["type"], "email.sent");
    assert_eq!(hook["data"], *data);
    let got = every.wait_for(1).await;
    let hook: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(hook["type"], "user.created");
    // Herald's own queue is not bound to them: it processed one event only.
    assert_eq!(app.processed().await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'email.sent'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_sent_while_the_broker_is_away_arrives_once_it_is_back() {
    let app = TestApp::spawn_with(Options {
        proxy_amqp: true,
        proxy_smtp: true,
        ..Default::default()
    })
    .await;
    let queue = listen(&app, &["email.sent"]).await;
    let smtp = app.smtp_proxy.as_ref().unwrap();
    let broker = app.amqp_proxy.as_ref().unwrap();
    smtp.cut();
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "grace@example.com"}),
    )
    .await;
    app.wait_processed(1).await;
    // The broker goes away; then the email goes out.
    broker.cut();
    smtp.restore();
    app.smtp.next_email().await;
    wait_until("the relay tried and put email.sent back", || async {
        app.count(
            "SELECT count(*) FROM event_outbox
             WHERE routing_key = 'email.sent' AND lease_until IS NULL AND next_attempt_at > now()",
        )
        .await
            == 1
    })
    .await;
    broker.restore();
    let (key, body) = next_event(&app, &queue).await;
    assert_eq!(key, "email.sent");
    assert_eq!(body["data"]["recipient"], "grace@example.com");
    wait_until("the relayed row removed", || async {
        app.count("SELECT count(*) FROM event_outbox").await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_endpoint_announces_it_is_disabled() {
    let app = app_with_local_webhooks().await;
    let queue = listen(&app, &["webhook.endpoint.disabled"]).await;
    let gone = Receiver::always(Reply::Status(410)).await;
    let (id, _) = app.register(&gone.url(), &["user.updated"]).await;
    app.publish("user.updated", json!({"id": "u1"})).await;
    let (key, body) = next_event(&app, &queue).await;
    assert_eq!(key, "webhook.endpoint.disabled");
    assert_eq!(body["data"]["id"], id.to_string());
    assert_eq!(body["data"]["reason"], "the endpoint answered 410 Gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_nobody_listens_to_is_dropped_not_kept() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "ada@example.com"}),
    )
    .await;
    app.smtp.next_email().await;
    wait_until("email.sent relayed and its row removed", || async {
        // The outcome first: its announcement was committed with it.
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await
            == 1
            && app.count("SELECT count(*) FROM event_outbox").await == 0
    })
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM event_outbox WHERE last_error IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_disabling_an_endpoint_announces_it_once() {
    let app = TestApp::spawn().await;
    let queue = listen(&app, &["webhook.endpoint.disabled"]).await;
    let (id, _) = app.register("http://127.0.0.1:9/hook", &[]).await;
    herald::webhooks::endpoints::disable(&app.pool, id, "disabled by an operator")
        .await
        .unwrap();
    // Disabling it again changes its reason only, and announces nothing.
    herald::webhooks::endpoints::disable(&app.pool, id, "still off")
        .await
        .unwrap();
    let (_, body) = next_event(&app, &queue).await;
    assert_eq!(body["data"]["id"], id.to_string());
    assert_eq!(body["data"]["reason"], "disabled by an operator");
    wait_until("the announcement relayed", || async {
        app.count("SELECT count(*) FROM event_outbox").await == 0
    })
    .await;
    assert_eq!(app.queue_len(&queue).await, 0, "announced once");
}
