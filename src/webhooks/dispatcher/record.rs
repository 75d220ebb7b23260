//! Recording an attempt: the attempt row, the delivery's new state and the
//! endpoint's health (failing since, disabled) in one transaction.

use super::send::Attempt;
use super::{Claimed, Dispatcher, Verdict};
use chrono::Utc;
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

    /// The attempt, the delivery's new state (only while this worker still
    /// holds it: `attempts` fences out a lease that lapsed and was
    /// re-claimed) and the endpoint's health, in one transaction.
    pub(super) async fn record(
        &self,
        row: &Claimed,
        attempted_at: chrono::DateTime<Utc>,
        attempt: &Attempt,
        verdict: &Verdict,
    ) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let (outcome, _) = labels(verdict, attempt.status);
        let last_error = attempt
            .error
            .clone()
            .or_else(|| attempt.status.map(|s| format!("HTTP {s}")));
        let (status, delay) = match verdict {
            Verdict::Delivered => ("delivered", None),
            Verdict::Retry(delay) => ("pending", Some(delay.as_secs_f64())),
            Verdict::Failed | Verdict::Gone => ("failed", None),
        };
        let moved = sqlx::query(
            "UPDATE webhook_deliveries
             SET status = $3, lease_until = NULL, last_error = $4,
                 next_attempt_at = CASE WHEN $5::float8 IS NULL THEN next_attempt_at
                                        ELSE now() + make_interval(secs => $5) END,
                 finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
             WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        )
        .bind(row.id)
        .bind(row.attempts)
        .bind(status)
        .bind(if matches!(verdict, Verdict::Delivered) {
            None
        } else {
            last_error
        })
        .bind(delay)
        .execute(&mut *tx)
        .await?;
        // Kept while the delivery exists; a removed endpoint took its
        // deliveries with it, and there is nothing left to record against.
        sqlx::query(
            "INSERT INTO webhook_attempts
                 (id, delivery_id, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome, response_excerpt, error)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
             WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $2)",
        )
        .bind(Uuid::now_v7())
        .bind(row.id)
        .bind(row.endpoint_id)
        .bind(row.attempts)
        .bind(attempted_at)
        .bind(attempt.status.map(i32::from))
        .bind(i32::try_from(attempt.latency.as_millis()).unwrap_or(i32::MAX))
        .bind(outcome)
        .bind(&attempt.excerpt)
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            tracing::warn!(delivery.id = %row.id, attempt = row.attempts,
                "the delivery was taken over, finished or removed meanwhile; its state is left as it is");
            metrics::counter!("herald_records_abandoned_total", "reason" => "stale").increment(1);
            return tx.commit().await;
        }
        match verdict {
            Verdict::Delivered => {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failing_since = NULL
                     WHERE id = $1 AND failing_since IS NOT NULL",
                )
                .bind(row.endpoint_id)
                .execute(&mut *tx)
                .await?;
            }
            Verdict::Gone => {
                disable(&mut tx, row.endpoint_id, "the endpoint answered 410 Gone").await?;
            }
            Verdict::Retry(_) | Verdict::Failed => {
                let failing_since: Option<chrono::DateTime<Utc>> = sqlx::query_scalar(
                    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
                     WHERE id = $1 RETURNING failing_since",
                )
                .bind(row.endpoint_id)
                .bind(attempted_at)
                .fetch_optional(&mut *tx)
                .await?;
                let down_for = failing_since
                    .and_then(|since| (Utc::now() - since).to_std().ok())
                    .unwrap_or_default();
                if let Some(since) = failing_since
                    && down_for >= self.disable_after
                {
                    let reason = format!(
                        "every attempt failed since {}",
                        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                    disable(&mut tx, row.endpoint_id, &reason).await?;
                }
            }
        }
        tx.commit().await
    }
}

async fn disable(conn: &mut sqlx::PgConnection, endpoint: Uuid, reason: &str) -> sqlx::Result<()> {
    tracing::warn!(endpoint.id = %endpoint, reason, "disabling webhook endpoint");
    sqlx::query(
        "UPDATE webhook_endpoints
         SET enabled = false, disabled_reason = $2, disabled_at = now(), updated_at = now()
         WHERE id = $1 AND enabled",
    )
    .bind(endpoint)
    .bind(reason)
    .execute(conn)
    .await?;
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
