//! Recording attempts in batches: the attempt rows, the deliveries' new
//! states and their endpoints' health (failing since, disabled), in one
//! transaction for every outcome gathered while the previous batch committed.

use super::send::Attempt;
use super::{Claimed, Dispatcher, Verdict};
use crate::store::recorder::WriteBatch;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a delivery whose endpoint secret no configured key opens waits
/// before it is looked at again.
const UNOPENED_DELAY_SECS: f64 = 5.0;

impl Dispatcher {
    /// The endpoint's secret does not open (a replica with the wrong
    /// `HERALD_SECRET_KEY`): nothing is sent or recorded as an attempt, and
    /// the delivery goes back as it was, its retry schedule untouched, to be
    /// sent once a worker with the right key claims it.
    pub(super) async fn wait_for_key(&self, row: &Claimed, why: &str, cancel: &CancellationToken) {
        metrics::counter!("herald_webhooks_undecryptable_total").increment(1);
        tracing::error!(delivery.id = %row.id, endpoint.id = %row.endpoint_id, "webhook waits: {why}");
        crate::retry::until_recorded("putting the webhook delivery back", cancel, || async {
            sqlx::query(
                "UPDATE webhook_deliveries
                 SET lease_until = NULL, attempts = attempts - 1, last_error = $3,
                     next_attempt_at = now() + make_interval(secs => $4)
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(row.id)
            .bind(row.attempts)
            .bind(why)
            .bind(UNOPENED_DELAY_SECS)
            .execute(&self.pool)
            .await
            .map(|_| ())
        })
        .await;
    }
}

/// One attempt to record, with where its delivery goes next.
pub(super) struct Record {
    delivery: Uuid,
    endpoint: Uuid,
    attempt_no: i32,
    attempted_at: DateTime<Utc>,
    status_code: Option<i32>,
    latency_ms: i32,
    outcome: &'static str,
    excerpt: Option<String>,
    error: Option<String>,
    verdict: Verdict,
}

impl Record {
    pub(super) fn new(
        row: &Claimed,
        attempted_at: DateTime<Utc>,
        attempt: Attempt,
        verdict: Verdict,
    ) -> Self {
        Record {
            delivery: row.id,
            endpoint: row.endpoint_id,
            attempt_no: row.attempts,
            attempted_at,
            status_code: attempt.status.map(i32::from),
            latency_ms: i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX),
            outcome: labels(&verdict, attempt.status).0,
            excerpt: attempt.excerpt,
            error: attempt.error,
            verdict,
        }
    }

    /// The delivery's status and delay after this attempt.
    fn next(&self) -> (&'static str, Option<f64>) {
        match self.verdict {
            Verdict::Delivered => ("delivered", None),
            Verdict::Retry(delay) => ("pending", Some(delay.as_secs_f64())),
            Verdict::Failed | Verdict::Gone => ("failed", None),
        }
    }

    fn last_error(&self) -> Option<String> {
        match self.verdict {
            Verdict::Delivered => None,
            _ => self
                .error
                .clone()
                .or_else(|| self.status_code.map(|s| format!("HTTP {s}"))),
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
    /// Each delivery moves on only while this worker still holds it
    /// (`attempts` fences out a lease that lapsed and was re-claimed); its
    /// attempt is kept while the delivery exists (a removed endpoint took its
    /// deliveries with it); only moved deliveries count for their endpoint.
    async fn write(&self, batch: &[Record]) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let column = |f: fn(&Record) -> Option<String>| batch.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<Uuid> = batch.iter().map(|r| r.delivery).collect();
        let moved: Vec<Uuid> = sqlx::query_scalar(
            "WITH r AS (
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int4[], $4::timestamptz[],
                                      $5::int4[], $6::int4[], $7::text[], $8::text[], $9::text[],
                                      $10::text[], $11::float8[], $12::text[], $13::uuid[])
                     AS r(id, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome,
                          excerpt, error, status, delay, last_error, attempt_id)
             ), moved AS (
                 UPDATE webhook_deliveries d
                 SET status = r.status, lease_until = NULL, last_error = r.last_error,
                     next_attempt_at = CASE WHEN r.delay IS NULL THEN d.next_attempt_at
                                            ELSE now() + make_interval(secs => r.delay) END,
                     finished_at = CASE WHEN r.status = 'pending' THEN NULL ELSE now() END
                 FROM r WHERE d.id = r.id AND d.attempts = r.attempt AND d.status = 'pending'
                 RETURNING d.id
             ), kept AS (
                 INSERT INTO webhook_attempts (id, delivery_id, endpoint_id, attempt, attempted_at,
                                               status_code, latency_ms, outcome, response_excerpt, error)
                 SELECT r.attempt_id, r.id, r.endpoint_id, r.attempt, r.attempted_at, r.status_code,
                        r.latency_ms, r.outcome, r.excerpt, r.error
                 FROM r WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = r.id)
             )
             SELECT id FROM moved",
        )
        .bind(&ids)
        .bind(batch.iter().map(|r| r.endpoint).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.attempt_no).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.attempted_at).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.status_code).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.latency_ms).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.outcome).collect::<Vec<_>>())
        .bind(column(|r| r.excerpt.clone()))
        .bind(column(|r| r.error.clone()))
        .bind(batch.iter().map(|r| r.next().0).collect::<Vec<_>>())
        .bind(batch.iter().map(|r| r.next().1).collect::<Vec<_>>())
        .bind(column(Record::last_error))
        .bind(batch.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let moved: HashSet<Uuid> = moved.into_iter().collect();
        let moved: Vec<&Record> = batch
            .iter()
            .filter(|r| moved.contains(&r.delivery))
            .collect();
        for r in batch
            .iter()
            .filter(|r| !moved.iter().any(|m| m.delivery == r.delivery))
        {
            tracing::warn!(delivery.id = %r.delivery, attempt = r.attempt_no,
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
            .map(|r| r.endpoint)
            .collect();
        if !delivered.is_empty() {
            sqlx::query(
                "UPDATE webhook_endpoints SET failing_since = NULL
                 WHERE id = ANY($1) AND failing_since IS NOT NULL",
            )
            .bind(delivered.iter().copied().collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for gone in moved.iter().filter(|r| matches!(r.verdict, Verdict::Gone)) {
            disable(tx, gone.endpoint, "the endpoint answered 410 Gone").await?;
        }
        let mut failing: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
        for r in moved
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Retry(_) | Verdict::Failed))
        {
            if !delivered.contains(&r.endpoint) {
                let first = failing.entry(r.endpoint).or_insert(r.attempted_at);
                *first = (*first).min(r.attempted_at);
            }
        }
        if failing.is_empty() {
            return Ok(());
        }
        let (endpoints, since): (Vec<Uuid>, Vec<DateTime<Utc>>) = failing.into_iter().unzip();
        let streaks: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE webhook_endpoints e SET failing_since = coalesce(e.failing_since, f.since)
             FROM unnest($1::uuid[], $2::timestamptz[]) AS f(id, since)
             WHERE e.id = f.id RETURNING e.id, e.failing_since",
        )
        .bind(&endpoints)
        .bind(&since)
        .fetch_all(&mut *tx)
        .await?;
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
    crate::webhooks::endpoints::disable_in(conn, endpoint, reason).await?;
    Ok(())
}

pub(super) fn labels(verdict: &Verdict, status: Option<u16>) -> (&'static str, &'static str) {
    let outcome = match verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry(_) => "retry",
        Verdict::Failed | Verdict::Gone => "failed",
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
        assert_eq!(labels(&Verdict::Delivered, Some(204)), ("delivered", "2xx"));
        assert_eq!(labels(&Verdict::Gone, Some(410)), ("failed", "4xx"));
        assert_eq!(
            labels(&Verdict::Retry(Duration::ZERO), None),
            ("retry", "error")
        );
    }
}
