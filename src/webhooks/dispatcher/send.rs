//! One webhook attempt: sign the stored body, POST it, and read what came
//! back (status, `Retry-After`, a bounded excerpt of the body or the error).

use super::Dispatcher;
use crate::store::webhook_deliveries::Leased;
use crate::webhooks::endpoints;
use crate::webhooks::retry_delay::parse_retry_after;
use crate::webhooks::signing::{Secret, sign_all};
use crate::webhooks::ssrf;
use chrono::Utc;
use std::time::{Duration, Instant};

/// Response bodies and errors recorded per attempt.
const EXCERPT_BYTES: usize = 1024;

/// What one attempt came to.
pub(super) struct Attempt {
    pub status: Option<u16>,
    pub latency: Duration,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    /// The SSRF guard refused the target: a setting, not the peer, is at fault.
    pub refused_private: bool,
}

impl Dispatcher {
    /// The endpoint's secrets (two during a rotation's grace period). An
    /// error means no configured key opens one: the delivery must wait for
    /// the right key, not spend its retries.
    pub(super) fn secrets(&self, row: &Leased) -> Result<Vec<Secret>, String> {
        let current = row
            .secret_sealed
            .as_ref()
            .ok_or("the endpoint's secret is not sealed yet (Herald seals it at start-up)")?;
        std::iter::once(current)
            .chain(&row.previous_secret_sealed)
            .map(|sealed| endpoints::open(&self.key, row.endpoint_id, sealed))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the endpoint's secret is unusable: {e}"))
    }

    pub(super) async fn attempt(&self, row: &Leased, secrets: &[Secret]) -> Attempt {
        let started = Instant::now();
        let refused = |error: String| Attempt {
            status: None,
            latency: started.elapsed(),
            excerpt: None,
            error: Some(error),
            retry_after: None,
            refused_private: false,
        };
        // IP literals never reach the resolver, so they are checked here.
        if !self.allow_private
            && let Some(why) = ssrf::refuse_ip_literal(&row.url)
        {
            return Attempt {
                refused_private: true,
                ..refused(format!(
                    "{why}; set HERALD_WEBHOOK_ALLOW_PRIVATE to allow it"
                ))
            };
        }
        let msg_id = format!("msg_{}", row.id.simple());
        let timestamp = Utc::now().timestamp();
        let sent = self
            .client
            .post(row.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign_all(secrets, &msg_id, timestamp, &row.body),
            )
            .body(row.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                let refused_private = ssrf::refused(&e);
                return Attempt {
                    refused_private,
                    ..refused(self.describe(e))
                };
            }
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
            refused_private: false,
        }
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

/// At most [`EXCERPT_BYTES`], without NUL or other control characters.
fn bounded(text: String) -> String {
    crate::store::recordable(&text, EXCERPT_BYTES)
}
