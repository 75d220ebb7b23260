//! Commands say exactly what happened and nothing else: no dependency noise,
//! no database created by a typo, no byte dumps, event ids on event lines.

use crate::helpers::{Options, TestApp, herald_bin};
use crate::logged_worker::LoggedWorker;
use serde_json::{Value, json};
use std::process::Output;

async fn run(args: &[&str], env: Vec<(&'static str, String)>) -> Output {
    let mut cmd = herald_bin();
    cmd.args(args).envs(env).env("HERALD_LOG_FORMAT", "json");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_command_on_a_missing_database_fails_and_creates_nothing() {
    let name = format!("herald_missing_{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres@{}/{name}", *crate::helpers::PG);
    let output = run(&["webhooks", "list"], vec![("DATABASE_URL", url)]).await;
    assert!(!output.status.success(), "{output:?}");
    let err = stderr(&output);
    assert!(
        err.contains("does not exist") && err.contains(&name),
        "{err}"
    );
    assert!(err.contains("herald migrate"), "{err}");
    let admin = sqlx::PgPool::connect(&format!(
        "postgres://postgres@{}/postgres",
        *crate::helpers::PG
    ))
    .await
    .unwrap();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&admin)
            .await
            .unwrap();
    assert!(!exists, "the database was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_of_a_type_herald_does_not_consume_lists_the_consumed_types() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let output = run(&["publish", "nosuch.type", "--data", "{}"], app.env()).await;
    assert!(!output.status.success(), "{output:?}");
    let err = stderr(&output);
    for t in herald::events::EVENT_TYPES {
        assert!(err.contains(t), "{t} not listed in {err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one line, got {err}");
    assert!(output.stdout.is_empty());
    assert_eq!(app.queue_len(&app.settings.queue).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_on_a_migrated_database_prints_no_sqlx_notice() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let output = run(&["migrate"], app.env()).await;
    assert!(output.status.success(), "{output:?}");
    let err = stderr(&output);
    assert!(!err.contains("_sqlx_migrations"), "{err}");
    assert!(!err.contains("sqlx::postgres::notice"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_lettering_line_carries_the_event_id() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let worker = LoggedWorker::start(&app, &[]);
    // Envelope fine, data not: no email for an invite.
    let id = "evt-dead-letter-log-line";
    app.publish_with_id("invite.created", id, json!({"id": "inv_1"}))
        .await;
    let line = worker
        .wait_line("the dead-lettering line", |l| l.contains("dead-lettering"))
        .await;
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["span"]["event.id"], id, "{line}");
}
