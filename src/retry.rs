//! Waiting out passing faults: exponential backoff with jitter (backon),
//! always cut short by shutdown.

use backon::{BackoffBuilder, ExponentialBuilder};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Delays for reconnecting to a service that is down: 100 ms doubling to 5 s,
/// jittered so replicas do not return in lockstep, never giving up.
pub fn backoff() -> impl Iterator<Item = Duration> + Send {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps for `delay`; `false` when shutdown came first.
pub async fn pause(delay: Option<Duration>, cancel: &CancellationToken) -> bool {
    let delay = delay.unwrap_or(Duration::from_secs(5));
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = cancel.cancelled() => false,
    }
}

/// How long a record is still tried after shutdown began. Past it, the
/// row's lease brings it back after the restart: the worst case is one more
/// send of what was in flight, never a lost one.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Runs `op` until it succeeds, waiting out each passing fault with
/// [`backoff`] and logging it as `what`. For writes that must not be lost,
/// such as the record of a send: unrecorded, it would be sent again.
///
/// It always ends: a refusal that is not a passing fault (the row or its
/// endpoint is gone, a value the database cannot hold) is logged and
/// counted, and so is a fault still lasting [`SHUTDOWN_GRACE`] after
/// `cancel`.
pub async fn until_recorded<F, Fut>(what: &str, cancel: &CancellationToken, mut op: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<()>>,
{
    let mut delays = backoff();
    let mut give_up_at = None;
    loop {
        let e = match op().await {
            Ok(()) => return,
            Err(e) => e,
        };
        if !crate::error::is_passing(&e) {
            tracing::error!(error = %e, "{what} was refused; giving it up");
            metrics::counter!("herald_records_abandoned_total", "reason" => "refused").increment(1);
            return;
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(5));
        if cancel.is_cancelled() {
            let deadline =
                *give_up_at.get_or_insert_with(|| tokio::time::Instant::now() + SHUTDOWN_GRACE);
            if tokio::time::Instant::now() + delay > deadline {
                tracing::warn!(error = %e, "{what} failed at shutdown; its lease brings it back");
                metrics::counter!("herald_records_abandoned_total", "reason" => "shutdown")
                    .increment(1);
                return;
            }
        }
        tracing::warn!(error = %e, "{what} failed; retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            // Shutdown starts the grace period at once.
            _ = cancel.cancelled(), if give_up_at.is_none() => {}
        }
    }
}
