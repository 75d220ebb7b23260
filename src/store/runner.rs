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
    /// Whether due rows can wait behind sends in flight (a webhook
    /// endpoint's cap): then a send ending is a reason to claim again.
    /// Otherwise a claim that found fewer rows than it could take waits for
    /// new work (a wake-up or the poll): claiming after every send that
    /// ended found nothing most times (measured: the relay claimed twice as
    /// often as it published).
    const CAPPED: bool = false;

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
        let all_busy = claimed.len() >= wanted;
        if claimed.len() > wanted {
            tracing::error!(
                kind = D::KIND,
                wanted,
                claimed = claimed.len(),
                "a claim returned more rows than asked; each waits for a free slot"
            );
        }
        for row in claimed {
            // A row past the permits in hand (a claim should never return
            // one) is leased all the same: it waits for a send to end.
            let permit = match permits.pop() {
                Some(permit) => permit,
                None => semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed"),
            };
            let hold = held.hold(D::row_id(&row));
            let (dispatch, cancel) = (dispatch.clone(), cancel.clone());
            in_flight.spawn(async move {
                dispatch.deliver(row, cancel).await;
                drop((permit, hold));
            });
        }
        drop(permits);
        if !all_busy {
            // Fewer due rows than free permits (or a kind's own cap): new
            // work, or for a capped kind a send ending, may change that.
            tokio::select! {
                _ = wake.wait(&cancel) => {}
                Some(_) = in_flight.join_next(), if D::CAPPED && !in_flight.is_empty() => {}
            }
        }
    }
    // Sends in flight are bounded by their deadline: let them finish and record.
    while in_flight.join_next().await.is_some() {}
    tracing::info!(kind = D::KIND, "dispatcher stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// An outbox whose claim always hands out more rows than asked.
    struct Greedy {
        due: Mutex<Vec<Uuid>>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        sent: AtomicUsize,
        all_sent: CancellationToken,
    }

    impl Dispatch for Greedy {
        type Row = Uuid;
        const KIND: &'static str = "test";

        fn row_id(row: &Uuid) -> Uuid {
            *row
        }

        async fn claim(&self, limit: usize, _held: &[Uuid]) -> sqlx::Result<Vec<Uuid>> {
            let mut due = self.due.lock().unwrap();
            let n = (limit + 3).min(due.len());
            Ok(due.drain(..n).collect())
        }

        async fn deliver(&self, _row: Uuid, _cancel: CancellationToken) {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_in_flight.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            if self.sent.fetch_add(1, Ordering::SeqCst) + 1 == 20 {
                self.all_sent.cancel();
            }
        }
    }

    #[tokio::test]
    async fn rows_claimed_past_the_permits_are_sent_within_the_concurrency() {
        let greedy = Arc::new(Greedy {
            due: Mutex::new((0..20).map(|_| Uuid::new_v4()).collect()),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            all_sent: CancellationToken::new(),
        });
        let wake = Wake::poll_only(Duration::from_millis(5));
        let cancel = greedy.all_sent.clone();
        tokio::time::timeout(
            Duration::from_secs(10),
            run(greedy.clone(), 2, wake, cancel),
        )
        .await
        .expect("the runner ends once every row is sent");
        assert_eq!(greedy.sent.load(Ordering::SeqCst), 20);
        assert!(greedy.most_in_flight.load(Ordering::SeqCst) <= 2);
    }
}
