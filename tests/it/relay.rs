//! The relay of events Herald publishes itself: rows are leased, and a row
//! the broker keeps refusing backs off alone.

use crate::helpers::{TestApp, wait_until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_row_backs_off_alone_and_the_rows_behind_it_go_out() {
    let app = TestApp::spawn().await;
    let mut conn = app.pool.acquire().await.unwrap();
    // No queue is bound for this type: the broker returns it, every time.
    herald::relay::enqueue(&mut conn, "nobody.listens", json!({"id": "x"}))
        .await
        .unwrap();
    herald::relay::enqueue(&mut conn, "user.updated", json!({"id": "usr_relayed"}))
        .await
        .unwrap();
    drop(conn);
    // The second row went out (Herald's own queue takes it) despite the first.
    app.wait_processed(1).await;
    wait_until("the refused row rescheduled", || async {
        app.count(
            "SELECT count(*) FROM event_outbox
             WHERE routing_key = 'nobody.listens' AND attempts >= 1
               AND next_attempt_at > now() AND lease_until IS NULL AND last_error IS NOT NULL",
        )
        .await
            == 1
    })
    .await;
    wait_until("the relayed row removed, the refused one kept", || async {
        app.count("SELECT count(*) FROM event_outbox").await == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_queued_while_the_broker_is_down_goes_out_once_it_is_back() {
    let app = TestApp::spawn_with(crate::helpers::Options {
        proxy_amqp: true,
        ..Default::default()
    })
    .await;
    let proxy = app.amqp_proxy.as_ref().unwrap();
    proxy.cut();
    let mut conn = app.pool.acquire().await.unwrap();
    herald::relay::enqueue(&mut conn, "user.updated", json!({"id": "usr_late"}))
        .await
        .unwrap();
    drop(conn);
    wait_until("the relay tried and put the row back", || async {
        app.count("SELECT count(*) FROM event_outbox WHERE lease_until IS NULL AND next_attempt_at > now()")
            .await
            == 1
    })
    .await;
    proxy.restore();
    app.wait_processed(1).await;
    wait_until("the relayed row removed", || async {
        app.count("SELECT count(*) FROM event_outbox").await == 0
    })
    .await;
}
