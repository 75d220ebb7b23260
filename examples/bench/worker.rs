//! Herald itself, as its own process (this binary re-run with `--herald`,
//! which does what `herald` does), so its memory is measured alone: the
//! backlog drained end to end, then a paced stream for latency.

use crate::setup::{self, Event};
use crate::sinks::{Log, Sinks};
use axum::body::Bytes;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Longest the bench waits for Herald to finish a phase.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

/// In the child: `herald <args>`, as the `herald` binary runs it (logs at
/// `RUST_LOG`, default warn here, on stderr).
pub fn child_main(args: Vec<String>) -> anyhow::Result<()> {
    use clap::Parser;
    let cli = herald::cli::Cli::try_parse_from(std::iter::once("herald".to_owned()).chain(args))?;
    herald::telemetry::init(cli.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(herald::commands::dispatch(cli.command))
}

pub struct Worker {
    child: Child,
}

impl Worker {
    /// Starts `herald run` with `args` in a child process.
    pub fn start(args: &[String]) -> anyhow::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .arg("--herald")
            .arg("run")
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        Ok(Worker { child })
    }

    /// A `/proc/<pid>/status` field of Herald's process, in KiB.
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        crate::report::kib(&status, field)
    }

    /// SIGTERM, as a deployment stops it, and waits for a clean exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await??;
        anyhow::ensure!(status.success(), "Herald exited with {status}");
        Ok(())
    }

    /// Waits until the sink holds `emails` and the receiver `webhooks`.
    pub async fn wait_for(
        &mut self,
        sink: &Log<String>,
        receiver: &Log<Bytes>,
        emails: usize,
        webhooks: usize,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + PHASE_LIMIT;
        let mut last_report = Instant::now();
        while sink.len() < emails || receiver.len() < webhooks {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("Herald stopped early: {status}");
            }
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
    worker: &mut Worker,
    ch: &lapin::Channel,
    exchange: &str,
    events: &[Event],
    rate: f64,
    sinks: &Sinks,
) -> anyhow::Result<Paced> {
    let (sink, receiver) = (&sinks.mail, &sinks.hooks);
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
