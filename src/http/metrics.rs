//! One Prometheus recorder for the process; every counter and histogram
//! Herald records through the `metrics` facade lands here.

use crate::store::{email_outbox, webhook_deliveries};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first use (tests run several apps per process).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
            .expect("valid buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Only fails if another recorder is installed, which Herald never does.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub fn render() -> String {
    handle().render()
}

/// The backlog gauges are read from the database at most this often, however
/// many scrapes come.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);
static BACKLOG_READ_AT: Mutex<Option<Instant>> = Mutex::new(None);

/// Dispatch backlog and the age of its oldest due item, read at scrape time
/// unless a scrape read them less than `BACKLOG_EVERY` ago (or is reading
/// them now): a flood of scrapes costs the database one query a second.
pub async fn observe_backlog(pool: &PgPool) {
    {
        let mut read_at = BACKLOG_READ_AT.lock().expect("backlog lock");
        if read_at.is_some_and(|at| at.elapsed() < BACKLOG_EVERY) {
            return;
        }
        *read_at = Some(Instant::now());
    }
    let email = email_outbox::counts::backlog(pool).await;
    let webhook = webhook_deliveries::backlog(pool).await;
    for (kind, backlog) in [("email", email), ("webhook", webhook)] {
        if let Ok(backlog) = backlog {
            metrics::gauge!("herald_dispatch_backlog", "kind" => kind).set(backlog.due as f64);
            metrics::gauge!("herald_dispatch_oldest_due_seconds", "kind" => kind)
                .set(backlog.oldest_due_seconds);
        }
    }
}
