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

/// Runs `op` until it succeeds, waiting out each failure with [`backoff`]
/// and logging it as `what`. For writes that must not be lost, such as the
/// record of a send: unrecorded, it would be sent again.
pub async fn until_ok<T, E, F, Fut>(what: &str, mut op: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delays = backoff();
    loop {
        match op().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed; retrying");
                tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
            }
        }
    }
}
