//! Recording attempts in batches: the attempt rows, the deliveries' new
//! states and their endpoints' health (failing since, disabled), in one
//! transaction for every outcome gathered while the previous batch
//! committed. What each verdict means is decided here; the statements are
//! `store::webhook_deliveries`' and `webhooks::endpoints`'.

use super::send::Attempt;
use super::{Dispatcher, Verdict};
use crate::store::recorder::WriteBatch;
use crate::store::webhook_deliveries::{
    self, AttemptOutcome, DeliveryStatus, Leased, Recorded, Unreadable,
};
use crate::webhooks::endpoints;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a delivery whose endpoint secret no configured key opens waits
/// before it is looked at again.
const UNOPENED_DELAY: Duration = Duration::from_secs(5);

impl Dispatcher {
    /// The endpoint's secret does not open (a replica with the wrong
    /// `HERALD_SECRET_KEY`): nothing is sent or recorded as an attempt, and
    /// the delivery goes back as it was, its retry schedule untouched, to be
    /// sent once a worker with the right key claims it.
    pub(super) async fn wait_for_key(&self, row: &Leased, why: &str, cancel: &CancellationToken) {
        metrics::counter!("herald_webhooks_undecryptable_total").increment(1);
        tracing::error!(delivery.id = %row.id, endpoint.id = %row.endpoint_id, "webhook waits: {why}");
        crate::retry::until_recorded("putting the webhook delivery back", cancel, || async {
            webhook_deliveries::put_back(&self.pool, row.id, row.attempts, why, UNOPENED_DELAY)
                .await
        })
        .await;
    }
}

/// One attempt to record, with the verdict that decided where its delivery goes.
pub(super) struct Record {
    row: Recorded,
    verdict: Verdict,
}

impl Record {
    pub(super) fn new(
        row: &Leased,
        attempted_at: DateTime<Utc>,
        attempt: Attempt,
        verdict: Verdict,
    ) -> Self {
        let status_code = attempt.status.map(i32::from);
        let (status, retry_in) = match verdict {
            Verdict::Delivered => (DeliveryStatus::Delivered, None),
            Verdict::Retry(delay) => (DeliveryStatus::Pending, Some(delay)),
            Verdict::Failed | Verdict::Gone => (DeliveryStatus::Failed, None),
        };
        let last_error = match verdict {
            Verdict::Delivered => None,
            _ => attempt
                .error
                .clone()
                .or_else(|| status_code.map(|s| format!("HTTP {s}"))),
        };
        let row = Recorded {
            delivery: row.id,
            endpoint: row.endpoint_id,
            attempt: row.attempts,
            attempted_at,
            status_code,
            latency_ms: i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
            outcome: labels(&verdict, attempt.status).0,
            excerpt: attempt.excerpt,
            error: attempt.error,
            status,
            retry_in,
            last_error,
        };
        Record { row, verdict }
    }

    /// A claimed row that does not read: an attempt that never left, failed.
    pub(super) fn unreadable(row: Unreadable, attempted_at: DateTime<Utc>) -> Self {
        let row = Recorded {
            delivery: row.id,
            endpoint: row.endpoint_id,
            attempt: row.attempts,
            attempted_at,
            status_code: None,
            latency_ms: 0,
            outcome: AttemptOutcome::Failed,
            excerpt: None,
            error: Some(row.reason.clone()),
            status: DeliveryStatus::Failed,
            retry_in: None,
            last_error: Some(row.reason),
        };
        Record {
            row,
            verdict: Verdict::Failed,
        }
    }
}

/// Writes webhook attempts in batches; endpoints are disabled once they
/// have failed for `disable_after`.
pub(super) struct Records {
    pub pool: PgPool,
    pub disable_after: Duration,
}

impl WriteBatch<Record> for Records {
    /// Only the deliveries this worker still held move (see
    /// `webhook_deliveries::record`), and only those count for their endpoint.
    async fn write(&self, batch: &[Record]) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<&Recorded> = batch.iter().map(|r| &r.row).collect();
        let moved = webhook_deliveries::record(&mut tx, &rows).await?;
        let moved: HashSet<Uuid> = moved.into_iter().collect();
        let (moved, stale): (Vec<&Record>, Vec<&Record>) =
            batch.iter().partition(|r| moved.contains(&r.row.delivery));
        for r in stale {
            tracing::warn!(delivery.id = %r.row.delivery, attempt = r.row.attempt,
                "the delivery was taken over, finished or removed meanwhile; its state is left as it is");
            metrics::counter!("herald_records_abandoned_total", "reason" => "stale").increment(1);
        }
        self.endpoint_health(&mut tx, &moved).await?;
        tx.commit().await
    }
}

impl Records {
    /// A delivery clears its endpoint's failure streak; an endpoint with
    /// only failures in the batch is failing since its first (unless it
    /// already was), and disabled once that is `disable_after` ago; 410
    /// disables at once.
    async fn endpoint_health(
        &self,
        tx: &mut sqlx::PgConnection,
        moved: &[&Record],
    ) -> sqlx::Result<()> {
        let delivered: HashSet<Uuid> = moved
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Delivered))
            .map(|r| r.row.endpoint)
            .collect();
        if !delivered.is_empty() {
            let delivered: Vec<Uuid> = delivered.iter().copied().collect();
            endpoints::clear_failing(tx, &delivered).await?;
        }
        for gone in moved.iter().filter(|r| matches!(r.verdict, Verdict::Gone)) {
            disable(tx, gone.row.endpoint, "the endpoint answered 410 Gone").await?;
        }
        let mut failing: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for r in moved
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Retry(_) | Verdict::Failed))
        {
            if !delivered.contains(&r.row.endpoint) {
                let first = failing.entry(r.row.endpoint).or_insert(r.row.attempted_at);
                *first = (*first).min(r.row.attempted_at);
            }
        }
        if failing.is_empty() {
            return Ok(());
        }
        let failing: Vec<(Uuid, DateTime<Utc>)> = failing.into_iter().collect();
        let streaks = endpoints::mark_failing(tx, &failing).await?;
        for (endpoint, since) in streaks {
            let down_for = (Utc::now() - since).to_std().unwrap_or_default();
            if down_for >= self.disable_after {
                let reason = format!(
                    "every attempt failed since {}",
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                disable(tx, endpoint, &reason).await?;
            }
        }
        Ok(())
    }
}

async fn disable(conn: &mut sqlx::PgConnection, endpoint: Uuid, reason: &str) -> sqlx::Result<()> {
    tracing::warn!(endpoint.id = %endpoint, reason, "disabling webhook endpoint");
    endpoints::disable_in(conn, endpoint, reason).await?;
    Ok(())
}

pub(super) fn labels(verdict: &Verdict, status: Option<u16>) -> (AttemptOutcome, &'static str) {
    let outcome = match verdict {
        Verdict::Delivered => AttemptOutcome::Delivered,
        Verdict::Retry(_) => AttemptOutcome::Retry,
        Verdict::Failed | Verdict::Gone => AttemptOutcome::Failed,
    };
    let class = match status {
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
        None => "error",
    };
    (outcome, class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn labels_outcomes_and_status_classes() {
        assert_eq!(
            labels(&Verdict::Delivered, Some(204)),
            (AttemptOutcome::Delivered, "2xx")
        );
        assert_eq!(
            labels(&Verdict::Gone, Some(410)),
            (AttemptOutcome::Failed, "4xx")
        );
        assert_eq!(
            labels(&Verdict::Retry(Duration::ZERO), None),
            (AttemptOutcome::Retry, "error")
        );
    }
}
