//! The webhook dispatcher inside `herald run`: claims due deliveries with a
//! lease in a short transaction, signs and POSTs them outside it, records
//! every attempt, and reschedules, finishes or disables.

use super::fan_out::WAKE_CHANNEL;
use super::retry_delay::{parse_retry_after, retry_delay};
use super::signing::{Secret, sign};
use super::ssrf;
use crate::retry;
use crate::settings::Settings;
use crate::store::wake::Wake;
use anyhow::Context as _;
use chrono::Utc;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often due rows are looked for when no fan-out wakes the dispatcher
/// (retries coming due, other replicas' rows, a missed notification).
const POLL: Duration = Duration::from_millis(250);
/// A lease outlives the attempt it covers by this much, so a live worker
/// never loses its row, while a dead one's row comes back soon after.
const LEASE_MARGIN: Duration = Duration::from_secs(2);
/// Response bodies and errors recorded per attempt.
const EXCERPT_BYTES: usize = 1024;

struct Dispatcher {
    pool: PgPool,
    client: reqwest::Client,
    schedule: Vec<Duration>,
    timeout: Duration,
    lease: Duration,
    per_endpoint: i64,
    disable_after: Duration,
    allow_private: bool,
}

#[derive(sqlx::FromRow)]
struct Claimed {
    id: Uuid,
    endpoint_id: Uuid,
    body: String,
    attempts: i32,
    url: String,
    secret: String,
    /// When the event that caused it was committed.
    created_at: chrono::DateTime<Utc>,
}

/// What one attempt came to.
struct Attempt {
    status: Option<u16>,
    latency: Duration,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<Duration>,
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
    let dispatcher = Arc::new(Dispatcher::new(settings, pool.clone())?);
    let semaphore = Arc::new(Semaphore::new(usize::from(settings.webhook_concurrency)));
    let mut wake = Wake::listen(pool, WAKE_CHANNEL, POLL).await;
    let mut in_flight = JoinSet::new();
    let mut backoff = retry::backoff();
    loop {
        while in_flight.try_join_next().is_some() {}
        let first = tokio::select! {
            permit = semaphore.clone().acquire_owned() => permit?,
            _ = cancel.cancelled() => break,
        };
        let mut permits = vec![first];
        while let Ok(permit) = semaphore.clone().try_acquire_owned() {
            permits.push(permit);
        }
        let wanted = permits.len();
        let claimed = match dispatcher.claim(wanted).await {
            Ok(rows) => {
                backoff = retry::backoff();
                rows
            }
            Err(e) => {
                drop(permits);
                tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
                if !retry::pause(backoff.next(), cancel).await {
                    break;
                }
                continue;
            }
        };
        let all_busy = claimed.len() == wanted;
        for row in claimed {
            let permit = permits.pop().expect("one permit per claimed row");
            let dispatcher = dispatcher.clone();
            in_flight.spawn(async move {
                dispatcher.deliver(row).await;
                drop(permit);
            });
        }
        drop(permits);
        if !all_busy {
            // Fewer due rows than free slots, or an endpoint at its cap: new
            // work, or an attempt ending (which frees its endpoint a slot).
            tokio::select! {
                _ = wake.wait(cancel) => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
        }
    }
    // In-flight attempts are bounded by the timeout: let them finish and record.
    while in_flight.join_next().await.is_some() {}
    Ok(())
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
        if !settings.webhook_allow_private {
            client = client.dns_resolver(ssrf::GlobalOnly);
        }
        let concurrency = i64::from(settings.webhook_concurrency);
        Ok(Self {
            pool,
            client: client.build().context("building the webhook HTTP client")?,
            schedule: settings.webhook_retry_schedule.0.clone(),
            timeout: settings.webhook_timeout,
            lease: settings.webhook_timeout + LEASE_MARGIN,
            // One slow endpoint may hold at most a quarter of the slots.
            per_endpoint: (concurrency / 4).max(1),
            disable_after: settings.webhook_disable_after,
            allow_private: settings.webhook_allow_private,
        })
    }

    /// Leases up to `limit` due deliveries of enabled endpoints, at most
    /// `per_endpoint` in flight per endpoint (counting other replicas' live
    /// leases). Locked rows are skipped, so replicas never claim the same row.
    async fn claim(&self, limit: usize) -> sqlx::Result<Vec<Claimed>> {
        sqlx::query_as(
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
            RETURNING d.id, d.endpoint_id, d.body, d.attempts, e.url, e.secret, d.created_at",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(self.per_endpoint)
        .bind(self.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
    }

    async fn deliver(&self, row: Claimed) {
        let attempted_at = Utc::now();
        let attempt = self.attempt(&row).await;
        let verdict = self.judge(&row, &attempt);
        let (outcome, class) = labels(&verdict, attempt.status);
        metrics::counter!("herald_webhook_attempts_total", "outcome" => outcome, "status_class" => class)
            .increment(1);
        if matches!(verdict, Verdict::Delivered) {
            let age = (Utc::now() - row.created_at).to_std().unwrap_or_default();
            metrics::histogram!("herald_event_to_webhook_seconds").record(age.as_secs_f64());
        }
        tracing::info!(
            delivery.id = %row.id, endpoint.id = %row.endpoint_id, attempt = row.attempts,
            status = attempt.status, latency_ms = attempt.latency.as_millis() as u64,
            error = attempt.error.as_deref(), outcome, "webhook attempt"
        );
        if let Err(e) = self.record(&row, attempted_at, &attempt, &verdict).await {
            // The lease lapses and the delivery is attempted again.
            tracing::warn!(delivery.id = %row.id, error = %e, "recording a webhook attempt failed");
        }
    }

    async fn attempt(&self, row: &Claimed) -> Attempt {
        let started = Instant::now();
        let refused = |error: String| Attempt {
            status: None,
            latency: started.elapsed(),
            excerpt: None,
            error: Some(error),
            retry_after: None,
        };
        let secret = match Secret::parse(&row.secret) {
            Ok(secret) => secret,
            Err(e) => return refused(format!("the endpoint's stored secret is unusable: {e}")),
        };
        let url = match reqwest::Url::parse(&row.url) {
            Ok(url) => url,
            Err(e) => return refused(format!("the endpoint's URL is unusable: {e}")),
        };
        // IP literals never reach the resolver, so they are checked here.
        if !self.allow_private
            && let Some(why) = ssrf::refuse_ip_literal(&url)
        {
            return refused(format!(
                "{why}; set HERALD_WEBHOOK_ALLOW_PRIVATE to allow it"
            ));
        }
        let msg_id = format!("msg_{}", row.id.simple());
        let timestamp = Utc::now().timestamp();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(&secret, &msg_id, timestamp, &row.body),
            )
            .body(row.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return refused(self.describe(e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let (excerpt, error) = match read_excerpt(response).await {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(self.describe(e))),
        };
        Attempt {
            status: Some(status),
            latency: started.elapsed(),
            excerpt,
            error,
            retry_after,
        }
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

    /// The attempt, the delivery's new state (only while this worker still
    /// holds it: `attempts` fences out a lease that lapsed and was
    /// re-claimed) and the endpoint's health, in one transaction.
    async fn record(
        &self,
        row: &Claimed,
        attempted_at: chrono::DateTime<Utc>,
        attempt: &Attempt,
        verdict: &Verdict,
    ) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        let (outcome, _) = labels(verdict, attempt.status);
        sqlx::query(
            "INSERT INTO webhook_attempts
                 (id, delivery_id, endpoint_id, attempt, attempted_at, status_code, latency_ms, outcome, response_excerpt, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
        let last_error = attempt
            .error
            .clone()
            .or_else(|| attempt.status.map(|s| format!("HTTP {s}")));
        let (status, delay) = match verdict {
            Verdict::Delivered => ("delivered", None),
            Verdict::Retry(delay) => ("pending", Some(delay.as_secs_f64())),
            Verdict::Failed | Verdict::Gone => ("failed", None),
        };
        sqlx::query(
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
                let failing_since: chrono::DateTime<Utc> = sqlx::query_scalar(
                    "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, $2)
                     WHERE id = $1 RETURNING failing_since",
                )
                .bind(row.endpoint_id)
                .bind(attempted_at)
                .fetch_one(&mut *tx)
                .await?;
                let down_for = (Utc::now() - failing_since).to_std().unwrap_or_default();
                if down_for >= self.disable_after {
                    let reason = format!(
                        "every attempt failed since {}",
                        failing_since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    );
                    disable(&mut tx, row.endpoint_id, &reason).await?;
                }
            }
        }
        tx.commit().await
    }

    /// A reqwest error without its URL (which may carry a secret path), with
    /// its causes, which say why (e.g. the SSRF guard's refusal).
    fn describe(&self, e: reqwest::Error) -> String {
        if e.is_timeout() {
            return format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            );
        }
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        bounded(text)
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

async fn read_excerpt(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut buf = Vec::new();
    while buf.len() < EXCERPT_BYTES {
        match response.chunk().await? {
            Some(chunk) => buf.extend_from_slice(&chunk),
            None => break,
        }
    }
    buf.truncate(EXCERPT_BYTES);
    Ok(bounded(String::from_utf8_lossy(&buf).into_owned()))
}

/// At most [`EXCERPT_BYTES`], on a character boundary, and without NUL
/// (which PostgreSQL text cannot hold).
fn bounded(mut text: String) -> String {
    text.retain(|c| c != '\0');
    if text.len() > EXCERPT_BYTES {
        let mut end = EXCERPT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn labels(verdict: &Verdict, status: Option<u16>) -> (&'static str, &'static str) {
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

fn jitter() -> f64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("the OS random number generator");
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded_on_a_character_boundary_without_nul() {
        let text = bounded(format!("a\0{}", "é".repeat(EXCERPT_BYTES)));
        assert_eq!(text.len(), EXCERPT_BYTES - 1);
        assert!(text.starts_with("aé") && !text.contains('\0'));
    }

    #[test]
    fn labels_outcomes_and_status_classes() {
        assert_eq!(labels(&Verdict::Delivered, Some(204)), ("delivered", "2xx"));
        assert_eq!(labels(&Verdict::Gone, Some(410)), ("failed", "4xx"));
        assert_eq!(
            labels(&Verdict::Retry(Duration::ZERO), None),
            ("retry", "error")
        );
        assert!((0.0..1.0).contains(&jitter()));
    }
}
