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
    assert_eq!(app.queue_len(&app.settings.broker.queue).await, 0);
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

/// The settings (flags backed by an environment variable) a command's help lists.
fn settings_listed(args: &[&str]) -> Vec<String> {
    let out = herald_bin().args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split("\n      --")
        .skip(1)
        .filter(|arg| arg.contains("[env: "))
        .map(|arg| arg.split_whitespace().next().unwrap().to_owned())
        .filter(|name| name != "log-format")
        .collect();
    names.sort();
    names
}

#[test]
fn each_command_lists_only_the_settings_it_uses() {
    let broker = ["amqp-url", "exchange", "queue"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["publish"], &broker),
        (&["dead-letters", "list"], &broker),
        (&["dead-letters", "replay"], &broker),
        (&["health"], &["http-addr"]),
        (&["templates", "check"], &["link-base-url", "templates-dir"]),
        (
            &["templates", "render"],
            &["invite-ttl", "link-base-url", "reset-ttl", "templates-dir"],
        ),
        (
            &["webhooks", "add"],
            &[
                "database-url",
                "secret-key",
                "secret-key-previous",
                "webhook-allow-private",
            ],
        ),
        (
            &["keys", "check"],
            &["database-url", "secret-key", "secret-key-previous"],
        ),
        (
            &["migrate"],
            &[
                "amqp-url",
                "database-url",
                "exchange",
                "queue",
                "secret-key",
                "secret-key-previous",
            ],
        ),
    ];
    for (args, expected) in cases {
        let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(settings_listed(args), expected, "herald {args:?}");
    }
    // `run` takes every setting.
    let run = settings_listed(&["run"]);
    for name in ["smtp-url", "api-token", "email-concurrency", "database-url"] {
        assert!(run.contains(&name.to_owned()), "run lacks {name}: {run:?}");
    }
}

#[test]
fn a_bad_setting_a_command_does_not_use_does_not_stop_it() {
    let out = herald_bin()
        .args(["templates", "render", "welcome", "--data"])
        .arg(r#"{"email":"ada@example.com","first_name":"Ada"}"#)
        .env("HERALD_SMTP_TIMEOUT", "soon")
        .env("HERALD_EXCHANGE", "")
        .env("HERALD_EMAIL_RATE_LIMIT", "many")
        .env(
            "HERALD_TEMPLATES_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Ada"));

    // The same bad value stops the command that uses it, naming it.
    let out = herald_bin()
        .args(["run"])
        .env("HERALD_SMTP_TIMEOUT", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("smtp-timeout"), "{}", stderr(&out));
}
