//! The webhook dispatcher inside `herald run`: claims due deliveries with a
//! lease in a short transaction, signs and POSTs them outside it, records
//! every attempt, and reschedules, finishes or disables.
//! `send` makes one attempt; `record` writes it down with its consequences.

mod record;
mod send;

use record::{Record, Records, labels};
use send::Attempt;

use super::fan_out::WAKE_CHANNEL;
use super::retry_delay::retry_delay;
use super::signing::Secret;
use super::ssrf;
use crate::settings::Settings;
use crate::store::recorder::Recorder;
use crate::store::runner;
use crate::store::wake::Wake;
use anyhow::Context as _;
use chrono::Utc;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often due rows are looked for when no fan-out wakes the dispatcher
/// (retries coming due, other replicas' rows, a missed notification).
const POLL: Duration = Duration::from_millis(250);
/// A lease outlives the attempt it covers by this much, so a live worker
/// never loses its row, while a dead one's row comes back soon after.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// The advisory lock webhook claims take turns under (any fixed number;
/// this one spells "herald" in ASCII).
const CLAIM_LOCK: i64 = 0x6865_7261_6c64;
struct Dispatcher {
    pool: PgPool,
    client: reqwest::Client,
    schedule: Vec<Duration>,
    timeout: Duration,
    lease: Duration,
    per_endpoint: i64,
    allow_private: bool,
    key: crate::store::SecretKey,
}

#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    endpoint_id: Uuid,
    body: String,
    attempts: i32,
    url: String,
    /// `None` only for a row written in clear by an older Herald, until the
    /// next start-up seals it.
    secret_sealed: Option<Vec<u8>>,
    /// The outgoing secret while a rotation's grace period lasts.
    previous_secret_sealed: Option<Vec<u8>>,
    /// When the event that caused it was committed.
    created_at: chrono::DateTime<Utc>,
}

enum Verdict {
    Delivered,
    Retry(Duration),
    Failed,
    Gone,
}

pub async fn run(
    settings: &Settings,
    pool: &PgPool,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let dispatcher = Dispatcher::new(settings, pool.clone())?;
    let wake = Wake::listen(pool, WAKE_CHANNEL, POLL).await;
    let concurrency = usize::from(settings.webhook_concurrency);
    let records = Records {
        pool: pool.clone(),
        disable_after: settings.webhook_disable_after,
    };
    let (recorder, recording) =
        Recorder::start("recording webhook attempts", records, cancel.clone());
    let running = Arc::new(Running {
        dispatcher,
        recorder,
    });
    runner::run(running, concurrency, wake, cancel.clone()).await;
    // Every attempt has handed in its record; the recorder ends once written.
    recording.await?;
    Ok(())
}

/// The dispatcher while it runs, with the recorder its attempts hand their
/// outcomes to.
struct Running {
    dispatcher: Dispatcher,
    recorder: Recorder<Record>,
}

impl runner::Dispatch for Running {
    type Row = Claimed;
    const KIND: &'static str = "webhook";

    fn row_id(row: &Claimed) -> Uuid {
        row.id
    }

    async fn claim(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Claimed>> {
        self.dispatcher.lease_due(limit, held).await
    }

    async fn deliver(&self, row: Claimed, cancel: CancellationToken) {
        let secrets = match self.dispatcher.secrets(&row) {
            Ok(secrets) => secrets,
            Err(why) => return self.dispatcher.wait_for_key(&row, &why, &cancel).await,
        };
        let record = self.dispatcher.attempt_and_judge(row, &secrets).await;
        // Unrecorded, the delivery would be sent again once its lease lapsed
        // (by another worker; this one holds the row until then).
        self.recorder.record(record).await
    }
}

impl Dispatcher {
    fn new(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        // reqwest is built without a default crypto provider so that only ring
        // is compiled in; another component may have installed it already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut client = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, out of the SSRF guard's reach.
            .no_proxy()
            .user_agent(concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.targets.webhook_allow_private {
            client = client.dns_resolver(ssrf::GlobalOnly);
        }
        Ok(Self {
            pool,
            client: client.build().context("building the webhook HTTP client")?,
            schedule: settings.webhook_retry_schedule.0.clone(),
            timeout: settings.webhook_timeout,
            lease: settings.webhook_timeout + LEASE_MARGIN,
            // One slow endpoint may hold at most a quarter of the slots.
            per_endpoint: i64::from(settings.webhook_per_endpoint()),
            allow_private: settings.targets.webhook_allow_private,
            key: settings.keys.secret_key()?,
        })
    }

    /// Leases up to `limit` due deliveries of enabled endpoints, at most
    /// `per_endpoint` in flight per endpoint across every replica: claims
    /// take turns under one advisory lock, so each counts the live leases of
    /// the claims before it. Locked rows are skipped, so replicas never claim
    /// the same row, and so are rows this worker still `held`.
    async fn lease_due(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Claimed>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query_as(
            "WITH in_flight AS (
                 SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
                 WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until > now()
                 GROUP BY endpoint_id
             ), picked AS (
                 SELECT d.id FROM webhook_endpoints e
                 LEFT JOIN in_flight f ON f.endpoint_id = e.id
                 CROSS JOIN LATERAL (
                     SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                     WHERE d.endpoint_id = e.id AND d.status = 'pending'
                       AND d.next_attempt_at <= now()
                       AND (d.lease_until IS NULL OR d.lease_until <= now())
                       AND NOT (d.id = ANY($4))
                     ORDER BY d.next_attempt_at, d.id
                     LIMIT greatest($2 - coalesce(f.n, 0), 0)
                     FOR UPDATE OF d SKIP LOCKED
                 ) d
                 WHERE e.enabled
                 ORDER BY d.next_attempt_at LIMIT $1
             )
             UPDATE webhook_deliveries d
             SET lease_until = now() + make_interval(secs => $3), attempts = d.attempts + 1
             FROM picked p, webhook_endpoints e
             WHERE d.id = p.id AND e.id = d.endpoint_id
            RETURNING d.id, d.endpoint_id, d.body, d.attempts, e.url, e.secret_sealed,
                      CASE WHEN e.previous_secret_until > now() THEN e.previous_secret_sealed END
                          AS previous_secret_sealed,
                      d.created_at",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(self.per_endpoint)
        .bind(self.lease.as_secs_f64())
        .bind(held)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Makes one attempt and judges it: what is to be recorded.
    async fn attempt_and_judge(&self, row: Claimed, secrets: &[Secret]) -> Record {
        let attempted_at = Utc::now();
        let attempt = self.attempt(&row, secrets).await;
        let verdict = self.judge(&row, &attempt);
        let (outcome, class) = labels(&verdict, attempt.status);
        metrics::counter!("herald_webhook_attempts_total", "outcome" => outcome, "status_class" => class)
            .increment(1);
        if matches!(verdict, Verdict::Delivered) {
            let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
            metrics::histogram!("herald_event_to_webhook_seconds").record(age.as_secs_f64());
        }
        if attempt.refused_private {
            // Retrying will not help until an operator changes the setting.
            tracing::warn!(
                delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
                error = attempt.error.as_deref(), outcome,
                "webhook target refused: not a public address; set HERALD_WEBHOOK_ALLOW_PRIVATE=true \
                 for this worker to allow it (development), then `herald webhooks replay --pending`"
            );
        } else {
            tracing::info!(
                delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
                status = attempt.status, latency_ms = attempt.latency.as_millis() as u64,
                error = attempt.error.as_deref(), outcome, "webhook attempt"
            );
        }
        Record::new(&row, attempted_at, attempt, verdict)
    }

    fn judge(&self, row: &Claimed, attempt: &Attempt) -> Verdict {
        match attempt.status {
            Some(200..=299) => return Verdict::Delivered,
            Some(410) => return Verdict::Gone,
            _ => {}
        }
        let retry_after = matches!(attempt.status, Some(429 | 503))
            .then_some(attempt.retry_after)
            .flatten();
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        match retry_delay(&self.schedule, attempts, jitter(), retry_after) {
            Some(delay) => Verdict::Retry(delay),
            None => Verdict::Failed,
        }
    }
}

fn jitter() -> f64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("the OS random number generator");
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_a_fraction() {
        assert!((0.0..1.0).contains(&jitter()));
    }
}
