//! One dispatch runner for every outbox, in the manner of sqlxmq's
//! `runner.rs`: woken when rows are committed (or by its poll), it claims
//! as many due rows as it has free permits, holds each row from claim to
//! record, and lets every send in flight finish at shutdown. Each kind
//! brings only its claim and its delivery ([`Dispatch`]).

use super::held::Held;
use super::wake::Wake;
use crate::retry;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// An outbox's rows due now, and how long the oldest has been due (0 with
/// none), for the `herald_dispatch_backlog` gauges.
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub struct Backlog {
    pub due: i64,
    pub oldest_due_seconds: f64,
}

/// What a kind of outbox brings to the runner.
pub trait Dispatch: Send + Sync + 'static {
    type Row: Send + 'static;
    /// Names the kind in logs and in `herald_dispatch_in_flight{kind}`.
    const KIND: &'static str;

    fn row_id(row: &Self::Row) -> Uuid;

    /// Leases up to `limit` due rows, never one in `held`.
    fn claim(
        &self,
        limit: usize,
        held: &[Uuid],
    ) -> impl Future<Output = sqlx::Result<Vec<Self::Row>>> + Send;

    /// Sends one row and records how it went. It must end: its permit and
    /// its hold are released when it does.
    fn deliver(&self, row: Self::Row, cancel: CancellationToken)
    -> impl Future<Output = ()> + Send;
}

/// Runs `dispatch` with at most `concurrency` rows in flight until `cancel`.
pub async fn run<D: Dispatch>(
    dispatch: Arc<D>,
    concurrency: usize,
    mut wake: Wake,
    cancel: CancellationToken,
) {
    let semaphore = Arc::new(Semaphore::new(concurrency));
    let mut in_flight = JoinSet::new();
    let mut backoff = retry::backoff();
    let held = Held::new(D::KIND);
    loop {
        while in_flight.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = semaphore.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = cancel.cancelled() => break,
        };
        let mut permits = vec![first];
        while let Ok(permit) = semaphore.clone().try_acquire_owned() {
            permits.push(permit);
        }
        let wanted = permits.len();
        let claimed = match dispatch.claim(wanted, &held.snapshot()).await {
            Ok(rows) => {
                backoff = retry::backoff();
                rows
            }
            Err(e) => {
                drop(permits);
                tracing::warn!(kind = D::KIND, error = %e, "claiming failed; retrying");
                if !retry::pause(backoff.next(), &cancel).await {
                    break;
                }
                continue;
            }
        };
        let all_busy = claimed.len() == wanted;
        for row in claimed {
            let permit = permits.pop().expect("one permit per claimed row");
            let hold = held.hold(D::row_id(&row));
            let (dispatch, cancel) = (dispatch.clone(), cancel.clone());
            in_flight.spawn(async move {
                dispatch.deliver(row, cancel).await;
                drop((permit, hold));
            });
        }
        drop(permits);
        if !all_busy {
            // Fewer due rows than free permits (or a kind's own cap, such as
            // a webhook endpoint's): new work, or a send ending, may change that.
            tokio::select! {
                _ = wake.wait(&cancel) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
    }
    // Sends in flight are bounded by their deadline: let them finish and record.
    while in_flight.join_next().await.is_some() {}
    tracing::info!(kind = D::KIND, "dispatcher stopped");
}
