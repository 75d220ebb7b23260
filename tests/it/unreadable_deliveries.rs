//! A claimed row that does not read as a delivery fails by itself, with
//! its reason, once: the rows claimed beside it are sent as usual.

use crate::helpers::{Options, TestApp, wait_until};
use crate::receiver::Receiver;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
struct Delivery {
    status: String,
    attempts: i32,
    last_error: Option<String>,
}

async fn delivery(app: &TestApp, id: Uuid) -> Delivery {
    sqlx::query_as("SELECT status, attempts, last_error FROM webhook_deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_endpoint_url_does_not_parse_fails_alone() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    let receiver = Receiver::start(vec![]).await;
    let (good_endpoint, _) = app.register(&receiver.url(), &["order.placed"]).await;
    let (bad_endpoint, _) = app.register(&receiver.url(), &["order.placed"]).await;
    // Changed behind Herald's back: registration would have refused it.
    sqlx::query("UPDATE webhook_endpoints SET url = 'hooks example com/in' WHERE id = $1")
        .bind(bad_endpoint)
        .execute(&app.pool)
        .await
        .unwrap();
    let (good, bad) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body)
         VALUES ($1, $2, 'evt_good', 'order.placed', '{\"type\":\"order.placed\",\"n\":1}'),
                ($3, $4, 'evt_bad', 'order.placed', '{\"type\":\"order.placed\",\"n\":2}')",
    )
    .bind(good)
    .bind(good_endpoint)
    .bind(bad)
    .bind(bad_endpoint)
    .execute(&app.pool)
    .await
    .unwrap();
    app.start_worker();

    wait_until("both deliveries final", || async {
        delivery(&app, good).await.status != "pending"
            && delivery(&app, bad).await.status != "pending"
    })
    .await;
    let sent = receiver.received();
    assert_eq!(sent.len(), 1, "only the good row is sent");
    assert_eq!(sent[0].body, r#"{"type":"order.placed","n":1}"#);
    let good = delivery(&app, good).await;
    assert_eq!((good.status.as_str(), good.attempts), ("delivered", 1));
    let bad_row = delivery(&app, bad).await;
    // Failed at its first claim, not retried: the same row would not read again.
    assert_eq!((bad_row.status.as_str(), bad_row.attempts), ("failed", 1));
    let reason = bad_row.last_error.expect("a reason");
    assert!(
        reason.starts_with("the endpoint's URL is unusable: "),
        "{reason}"
    );
    let (outcome, error): (String, Option<String>) =
        sqlx::query_as("SELECT outcome, error FROM webhook_attempts WHERE delivery_id = $1")
            .bind(bad)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(outcome, "failed");
    assert_eq!(error.as_deref(), Some(reason.as_str()));
}
