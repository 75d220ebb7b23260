//! A row this Herald cannot read (a template another version wrote, a
//! recipient that no longer parses) fails alone: the claim still hands out
//! the rows beside it, and the bad row ends `failed` with one `invalid`
//! attempt saying why, announced like any failure.

use crate::helpers::{Options, TestApp};
use serde_json::{Value, json};
use uuid::Uuid;

async fn insert(app: &TestApp, template: &str, recipient: &str) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO email_outbox (id, event_id, event_time, template, recipient, data)
         VALUES ($1, 'evt-' || $1::text, now(), $2, $3, $4)",
    )
    .bind(id)
    .bind(template)
    .bind(recipient)
    .bind(json!({"user_id": "u1", "email": recipient, "first_name": "Cy"}))
    .execute(&app.pool)
    .await
    .unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_that_cannot_be_read_fails_alone_and_the_others_go_out() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let queue = crate::lifecycle::listen(&app, &["email.failed"]).await;
    // One claim takes all three.
    let newsletter = insert(&app, "newsletter", "old@example.test").await;
    let garbled = insert(&app, "welcome", "not an address").await;
    let good = insert(&app, "welcome", "good@example.test").await;
    app.start_worker();

    let got = app.smtp.next_email().await;
    assert_eq!(got.rcpt_to, ["good@example.test"]);
    app.wait_emails_final().await;
    let rows: Vec<(Uuid, String, i32, Option<String>)> =
        sqlx::query_as("SELECT id, status, attempts, last_error FROM email_outbox ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 3);
    let row = |id: Uuid| rows.iter().find(|r| r.0 == id).unwrap().clone();
    assert_eq!(row(good).1, "sent");
    for (id, says) in [
        (newsletter, "\"newsletter\" is not a template"),
        (garbled, "\"not an address\""),
    ] {
        let (_, status, attempts, last_error) = row(id);
        let last_error = last_error.unwrap_or_default();
        assert_eq!((status.as_str(), attempts), ("failed", 1), "{last_error}");
        assert!(
            last_error.starts_with("this Herald cannot read the stored email: ")
                && last_error.contains(says),
            "{last_error}"
        );
    }
    // One attempt each, never claimed again.
    let mut attempts: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT outbox_id, outcome FROM email_attempts")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    attempts.sort();
    let mut expected = vec![
        (newsletter, "invalid".to_owned()),
        (garbled, "invalid".to_owned()),
        (good, "sent".to_owned()),
    ];
    expected.sort();
    assert_eq!(attempts, expected);
    assert_eq!(app.smtp.accepted(), 1);

    // Announced as any failure, naming the row as stored.
    let mut announced = Vec::new();
    for _ in 0..2 {
        let (key, body) = crate::lifecycle::next_event(&app, &queue).await;
        assert_eq!(key, "email.failed");
        announced.push(body["data"].clone());
    }
    let of = |id: Uuid| {
        announced
            .iter()
            .find(|d| d["id"] == id.to_string())
            .unwrap_or_else(|| panic!("{id} announced: {announced:?}"))
    };
    assert_eq!(of(newsletter)["template"], "newsletter");
    assert_eq!(of(garbled)["recipient"], "not an address");
    assert!(announced.iter().all(|d| d["status"] == "failed"));

    // Operators still see every row, and a resend says why it cannot.
    let failed: Value = app
        .get("/v1/emails?status=failed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["count"], 2, "{failed}");
    let resend = app
        .post(&format!("/v1/emails/{newsletter}/resend"), json!(null))
        .await;
    assert_eq!(resend.status(), 409);
    let body = resend.text().await.unwrap();
    assert!(body.contains("newsletter"), "{body}");
}
