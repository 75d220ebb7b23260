//! Claims stay cheap on large queue tables: Herald vacuums them once dead
//! row versions pile up, whether or not autovacuum runs (it is off on the
//! machines these tests run on, and `vacuum_count` counts only explicit
//! vacuums either way), and its sessions never JIT-compile a plan.

use crate::helpers::{Options, TestApp, wait_for};
use serde_json::json;
use std::time::Duration;

async fn vacuums(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'email_outbox'::regclass",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_table_full_of_dead_rows_is_vacuumed() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.vacuum_dead_rows = 20;
    app.start_worker();
    assert_eq!(vacuums(&app).await, 0);

    // Each email leaves two dead row versions: its claim and its record.
    for i in 0..30 {
        app.publish(
            "user.created",
            json!({"id": format!("u{i}"), "email": format!("u{i}@example.com")}),
        )
        .await;
    }
    app.wait_processed(30).await;
    app.wait_emails_final().await;

    wait_for("email_outbox vacuumed", Duration::from_secs(20), || async {
        vacuums(&app).await > 0
    })
    .await;
    let dead: i64 = sqlx::query_scalar(
        "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'email_outbox'::regclass",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(dead <= 20, "{dead} dead row versions left after the vacuum");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("herald_queue_vacuums_total{table=\"email_outbox\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_run_without_jit_and_dispatch_commits_asynchronously() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let url = &app.settings.database.url;
    let main = herald::store::pool(url, 1).unwrap();
    let dispatch = herald::store::dispatch_pool(url, 1).unwrap();
    assert_eq!(show(&main, "SHOW jit").await, "off");
    assert_eq!(show(&main, "SHOW synchronous_commit").await, "on");
    assert_eq!(show(&dispatch, "SHOW jit").await, "off");
    assert_eq!(show(&dispatch, "SHOW synchronous_commit").await, "off");
}

async fn show(pool: &sqlx::PgPool, sql: &'static str) -> String {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}
