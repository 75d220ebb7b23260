//! No plaintext token or webhook endpoint secret anywhere in the database or the logs.

use crate::helpers::{Options, TestApp, herald_bin, wait_until};
use crate::receiver::Receiver;
use lapin::BasicProperties;
use serde_json::json;
use std::process::Stdio;

/// Every minted or given token is searched for in every text-like column.
pub async fn assert_no_plaintext(app: &TestApp, tokens: &[String]) {
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'bytea', 'jsonb', 'json')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(columns.len() > 10, "the scan sees the schema");
    for (table, column, ty) in &columns {
        for token in tokens {
            let sql = if ty == "bytea" {
                format!(
                    r#"SELECT count(*) FROM "{table}" WHERE position(convert_to($1, 'UTF8') IN "{column}") > 0"#
                )
            } else {
                format!(r#"SELECT count(*) FROM "{table}" WHERE strpos("{column}"::text, $1) > 0"#)
            };
            let hits: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
                .bind(token)
                .fetch_one(&app.pool)
                .await
                .unwrap();
            assert_eq!(hits, 0, "a token is stored in clear in {table}.{column}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_never_stored_or_logged_in_clear() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let given = "given-reset-token-0123456789abcdef".to_owned();
    let first_id = app
        .publish(
            "invite.created",
            json!({"id": "inv_s", "email": "s@example.com"}),
        )
        .await;
    app.publish("invite.resent", json!({"id": "inv_s"})).await;
    app.publish("user.password_reset", json!({"email": "s@example.com"}))
        .await;
    let medusa = json!({"name": "auth.password_reset", "data": {"entity_id": "t@example.com", "token": given}});
    app.publish_raw(
        "auth.password_reset",
        medusa.to_string().as_bytes(),
        BasicProperties::default().with_message_id("sec-1".into()),
    )
    .await;

    // An endpoint as an earlier Herald stored it, its secret in clear: the
    // binary seals it at start-up and signs with it.
    let receiver = Receiver::start(vec![]).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    sqlx::query("INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, $2, $3)")
        .bind(uuid::Uuid::now_v7())
        .bind(receiver.url())
        .bind(secret)
        .execute(&app.pool)
        .await
        .unwrap();

    // The real binary, logging everything it can.
    let log = tempfile_path();
    let mut child = herald_bin()
        .arg("run")
        .envs(app.env())
        .env("HERALD_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("RUST_LOG", "trace")
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    wait_until("all processed", || async { app.processed().await == 4 }).await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(app.next_token().await.1);
    }
    app.wait_emails_final().await;
    let delivered = receiver.wait_for(4).await;
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    assert!(
        verifier
            .verify(delivered[0].body.as_bytes(), &delivered[0].headers)
            .is_ok()
    );
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();

    assert!(tokens.contains(&given));
    assert_no_plaintext(&app, &tokens).await;
    let secret_forms = [secret.to_owned(), secret["whsec_".len()..].to_owned()];
    assert_no_plaintext(&app, &secret_forms).await;

    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains(&first_id),
        "the log was captured, with event ids"
    );
    tokens.dedup();
    assert!(
        !logs.contains(&secret_forms[1]),
        "the endpoint secret is in the logs"
    );
    for token in &tokens {
        assert!(
            !logs.contains(token.as_str()),
            "a token appears in the logs"
        );
    }
    if std::env::var_os("KEEP_LOG").is_none() {
        let _ = std::fs::remove_file(&log);
    } else {
        eprintln!("log kept at {}", log.display());
    }
}

fn tempfile_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("herald-log-{}.txt", uuid::Uuid::new_v4()))
}
