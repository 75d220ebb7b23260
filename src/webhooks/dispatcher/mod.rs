//! The webhook dispatcher inside `herald run`: claims due deliveries with a
//! lease in a short transaction, signs and POSTs them outside it, records
//! every attempt, and reschedules, finishes or disables.
//! `send` makes one attempt; `record` decides what it means for the
//! delivery and its endpoint. The statements are `store::webhook_deliveries`'.

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
use crate::store::webhook_deliveries::{self, Claim, Lease, Leased, Unreadable};
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
    type Row = Claim;
    const KIND: &'static str = "webhook";
    const CAPPED: bool = true;

    fn row_id(row: &Claim) -> Uuid {
        match row {
            Ok(row) => row.id,
            Err(row) => row.id,
        }
    }

    async fn claim(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Claim>> {
        self.dispatcher.lease_due(limit, held).await
    }

    async fn deliver(&self, row: Claim, cancel: CancellationToken) {
        let row = match row {
            Ok(row) => row,
            Err(unreadable) => {
                return self
                    .recorder
                    .record(Dispatcher::fail_unread(unreadable))
                    .await;
            }
        };
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

    /// Leases up to `limit` due deliveries, at most `per_endpoint` in
    /// flight per endpoint, never one still `held`.
    async fn lease_due(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Claim>> {
        let lease = Lease {
            limit,
            per_endpoint: self.per_endpoint,
            lasts: self.lease,
            held,
        };
        webhook_deliveries::claim(&self.pool, &lease).await
    }

    /// A claimed row that does not read as a delivery fails at once, with
    /// its reason: reading it again would find the same row.
    fn fail_unread(row: Unreadable) -> Record {
        let (outcome, class) = labels(&Verdict::Failed, None);
        metrics::counter!("herald_webhook_attempts_total", "outcome" => outcome.as_str(), "status_class" => class)
            .increment(1);
        tracing::error!(delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
            error = %row.reason, "webhook delivery failed: its row is unreadable");
        Record::unreadable(row, Utc::now())
    }

    /// Makes one attempt and judges it: what is to be recorded.
    async fn attempt_and_judge(&self, row: Leased, secrets: &[Secret]) -> Record {
        let attempted_at = Utc::now();
        let attempt = self.attempt(&row, secrets).await;
        let verdict = self.judge(&row, &attempt);
        let (outcome, class) = labels(&verdict, attempt.status);
        metrics::counter!("herald_webhook_attempts_total", "outcome" => outcome.as_str(), "status_class" => class)
            .increment(1);
        if matches!(verdict, Verdict::Delivered) {
            let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
            metrics::histogram!("herald_event_to_webhook_seconds").record(age.as_secs_f64());
        }
        if attempt.refused_private {
            // Retrying will not help until an operator changes the setting.
            tracing::warn!(
                delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
                error = attempt.error.as_deref(), outcome = outcome.as_str(),
                "webhook target refused: not a public address; set HERALD_WEBHOOK_ALLOW_PRIVATE=true \
                 for this worker to allow it (development), then `herald webhooks replay --pending`"
            );
        } else {
            tracing::info!(
                delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
                status = attempt.status, latency_ms = attempt.latency.as_millis() as u64,
                error = attempt.error.as_deref(), outcome = outcome.as_str(), "webhook attempt"
            );
        }
        Record::new(&row, attempted_at, attempt, verdict)
    }

    fn judge(&self, row: &Leased, attempt: &Attempt) -> Verdict {
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
