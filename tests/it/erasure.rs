//! Erasure on `user.deleted` with an email: once its deliveries are final,
//! no text or JSON column of any table holds the address or the user's name.

use crate::helpers::{Options, TestApp, wait_until};
use crate::receiver::{Receiver, Reply};
use serde_json::json;

/// Every (table, column) of text or JSON type in Herald's schema where
/// `needle` occurs, case-insensitively.
async fn find_everywhere(app: &TestApp, needle: &str) -> Vec<String> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'
           AND data_type IN ('text', 'jsonb', 'json', 'character varying', 'ARRAY')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(columns.len() > 20, "the scan sees the schema: {columns:?}");
    let mut found = Vec::new();
    for (table, column) in columns {
        let sql = format!(
            "SELECT count(*) FROM \"{table}\" WHERE strpos(lower(\"{column}\"::text), lower($1)) > 0"
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_user_deleted_no_row_holds_the_address_once_its_deliveries_are_final() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    app.start_worker();
    let every = Receiver::always(Reply::Status(200)).await;
    app.register(&every.url(), &[]).await;
    let announced = Receiver::always(Reply::Status(200)).await;
    app.register(&announced.url(), &["email.sent"]).await;

    let ada = json!({"id": "usr_ada", "email": "Ada.L@example.com",
                     "first_name": "Ada", "last_name": "Lovelace"});
    app.publish(
        "invite.created",
        json!({"id": "inv_ada", "email": "ada.l@example.com", "first_name": "Ada",
               "invited_by": "Lovelace senior"}),
    )
    .await;
    app.publish("user.created", ada.clone()).await;
    app.publish(
        "user.password_reset",
        json!({"email": "ada.l@example.com", "user_id": "usr_ada", "first_name": "Ada",
               "last_name": "Lovelace"}),
    )
    .await;
    app.publish(
        "user.updated",
        json!({"id": "usr_ada", "last_name": "Lovelace"}),
    )
    .await;
    app.publish(
        "user.created",
        json!({"id": "usr_bob", "email": "bob@example.com"}),
    )
    .await;
    app.wait_processed(5).await;
    app.wait_emails_final().await;
    announced.wait_for(4).await;
    every.wait_for(5).await;
    assert!(!find_everywhere(&app, "ada.l@example.com").await.is_empty());

    let deleted = app
        .publish(
            "user.deleted",
            json!({"id": "usr_ada", "email": "ada.l@example.com"}),
        )
        .await;
    // The event's own delivery carries the address, and goes out first.
    let got = every.wait_for(6).await;
    assert!(
        got.iter()
            .any(|r| r.body.contains("user.deleted") && r.body.contains("ada.l@example.com"))
    );
    wait_until("no row holds the address or the name", || async {
        let mut left = find_everywhere(&app, "ada.l@example.com").await;
        left.extend(find_everywhere(&app, "lovelace").await);
        if !left.is_empty() {
            tracing::debug!(?left, "still holding the user's data");
        }
        left.is_empty()
    })
    .await;
    // The event ids stay; the other user's rows stay.
    assert_eq!(app.processed().await, 6);
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1")
        .bind(&deleted)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE recipient = 'bob@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_deliveries WHERE body LIKE '%usr_bob%'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM erasures").await, 0);
}
