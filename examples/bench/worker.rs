//! Herald itself, in-process: the backlog drained end to end, then a paced
//! stream for latency.

use crate::setup::{self, Event};
use crate::sinks::Log;
use axum::body::Bytes;
use herald::settings::Settings;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest the bench waits for Herald to finish a phase.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

pub struct Worker {
    cancel: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Worker {
    pub async fn start(settings: Settings) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(herald::app::run_with_listener(
            settings,
            listener,
            cancel.clone(),
        ));
        Ok(Worker { cancel, task })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        self.cancel.cancel();
        self.task.await?
    }

    /// Waits until the sink holds `emails` and the receiver `webhooks`.
    pub async fn wait_for(
        &self,
        sink: &Log<String>,
        receiver: &Log<Bytes>,
        emails: usize,
        webhooks: usize,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + PHASE_LIMIT;
        let mut last_report = Instant::now();
        while sink.len() < emails || receiver.len() < webhooks {
            anyhow::ensure!(!self.task.is_finished(), "Herald stopped early");
            anyhow::ensure!(
                Instant::now() < deadline,
                "timed out: {}/{emails} emails, {}/{webhooks} webhooks",
                sink.len(),
                receiver.len()
            );
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!(
                    "  … {}/{emails} emails, {}/{webhooks} webhooks",
                    sink.len(),
                    receiver.len()
                );
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// Latency percentiles, in milliseconds.
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

pub struct Paced {
    pub events: usize,
    pub rate: f64,
    pub email: Percentiles,
    pub webhook: Percentiles,
}

/// Publishes `events` (invite.created only, so each has one recipient and
/// one invite id) at a fixed `rate`, and times each from its publish to its
/// arrival at the sink and at the receiver.
pub async fn paced(
    worker: &Worker,
    ch: &lapin::Channel,
    exchange: &str,
    events: &[Event],
    rate: f64,
    sink: &Log<String>,
    receiver: &Log<Bytes>,
) -> anyhow::Result<Paced> {
    sink.take();
    receiver.take();
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut published: HashMap<String, Instant> = HashMap::with_capacity(events.len());
    let start = tokio::time::Instant::now();
    for (i, e) in events.iter().enumerate() {
        tokio::time::sleep_until(start + period * u32::try_from(i)?).await;
        published.insert(
            e.email.clone().expect("an invite has a recipient"),
            Instant::now(),
        );
        setup::publish_one(ch, exchange, e.event_type, &e.body).await?;
    }
    ch.wait_for_confirms().await?;
    worker
        .wait_for(sink, receiver, events.len(), events.len())
        .await?;
    let email = sink
        .take()
        .into_iter()
        .filter_map(|(at, rcpt)| Some(at - *published.get(&rcpt)?))
        .collect();
    let webhook = receiver
        .take()
        .into_iter()
        .filter_map(|(at, body)| Some(at - *published.get(&webhook_email(&body)?)?))
        .collect();
    Ok(Paced {
        events: events.len(),
        rate,
        email: percentiles(email),
        webhook: percentiles(webhook),
    })
}

/// The recipient in a webhook body (`data.email`), which matches its event.
fn webhook_email(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(v["data"]["email"].as_str()?.to_owned())
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort();
    let at = |q: f64| {
        if samples.is_empty() {
            return f64::NAN;
        }
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    }
}
