//! The retention job inside `herald run`: every so often, deletes what
//! finished longer ago than `HERALD_RETENTION`, in small batches so no
//! statement holds locks for long ([`store::retention`] says what). A
//! PostgreSQL advisory lock, taken per batch, keeps replicas from doing the
//! same work twice. Counted as `herald_retention_deleted_total{table}`.
//! The same loop carries out the erasures `user.deleted` queued, once
//! nothing about their user is pending ([`crate::store::erasure`]), and
//! vacuums the queue tables once dead row versions pile up in them
//! ([`crate::store::vacuum`], `herald_queue_vacuums_total{table}`).

use crate::settings::Settings;
use crate::store::retention::{TABLES, delete_batch};
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Rows deleted in one statement at most.
const BATCH: i64 = 500;

/// How often queued erasures (`user.deleted`) are looked at.
const ERASURE_POLL: Duration = Duration::from_secs(1);

/// Runs until `cancel`.
pub async fn run(settings: &Settings, pool: &PgPool, cancel: &CancellationToken) {
    let retention = settings.retention;
    let rate_window = settings.email_rate_limit.per;
    // Often enough that nothing outlives its retention by much, seldom
    // enough to cost nothing.
    let every = (retention / 4).clamp(Duration::from_millis(200), Duration::from_secs(600));
    let mut next_round = tokio::time::Instant::now();
    loop {
        if let Err(e) = crate::store::erasure::erase_ready(pool).await {
            tracing::warn!(error = %e, "erasure failed; trying again later");
        }
        if settings.vacuum_dead_rows > 0 {
            vacuum(pool, settings.vacuum_dead_rows).await;
        }
        if tokio::time::Instant::now() >= next_round {
            if let Err(e) = round(pool, retention, rate_window, cancel).await {
                tracing::warn!(error = %e, "retention round failed; trying again later");
            }
            next_round = tokio::time::Instant::now() + every;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every.min(ERASURE_POLL)) => {}
        }
    }
}

async fn vacuum(pool: &PgPool, dead_rows: u32) {
    match crate::store::vacuum::vacuum_queues(pool, i64::from(dead_rows)).await {
        Ok(tables) => {
            for table in tables {
                metrics::counter!("herald_queue_vacuums_total", "table" => table).increment(1);
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "vacuuming the queue tables failed; trying again later")
        }
    }
}

/// Goes through every table until none has a full batch left.
async fn round(
    pool: &PgPool,
    retention: Duration,
    rate_window: Duration,
    cancel: &CancellationToken,
) -> sqlx::Result<()> {
    for table in TABLES {
        loop {
            if cancel.is_cancelled() {
                return Ok(());
            }
            let Some(deleted) = delete_batch(pool, table, retention, rate_window, BATCH).await?
            else {
                // Another replica is at it.
                return Ok(());
            };
            let mut main = 0;
            for (name, n) in deleted {
                metrics::counter!("herald_retention_deleted_total", "table" => name).increment(n);
                if name == table {
                    main = n;
                }
            }
            if main < BATCH as u64 {
                break;
            }
        }
    }
    Ok(())
}
