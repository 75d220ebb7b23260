//! The Markdown report, and the machine it ran on.

use crate::per_second;
use crate::setup::Mix;
use crate::worker::Paced;
use herald::settings::Settings;
use std::fmt::{self, Write as _};
use std::time::Duration;

/// A backlog drained by Herald, and what it ran with.
pub struct Backlog {
    pub n: usize,
    pub emails: usize,
    pub mix: Mix,
    /// `/proc/loadavg` before the run: what else was keeping the machine busy.
    pub load: String,
    /// PostgreSQL's `autovacuum` setting during the run.
    pub autovacuum: String,
    pub settings: Settings,
    pub time: Duration,
    /// Herald's own peak RSS (`VmHWM`) once the backlog was drained.
    pub rss: Option<u64>,
}

pub struct Report {
    pub backlog: Backlog,
    /// Name, time, and items (messages, emails, requests, events) done.
    pub baselines: Vec<(&'static str, Duration, usize)>,
    /// lettre's own pooled transport, for comparison; not a bound (none
    /// when the run sends no email).
    pub lettre_pool: Option<(Duration, usize)>,
    /// None for a webhooks-only run.
    pub paced: Option<Paced>,
    pub rss_peak: Option<u64>,
}

pub fn kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// `--scaling`: throughput and memory as the backlog grows.
pub fn scaling(runs: &[Backlog]) -> String {
    let mut out = String::new();
    let kinds = runs.first().map_or("", |r| r.mix.name());
    let _ = writeln!(
        out,
        "| Backlog ({kinds}) | Time | Events/s | Herald peak RSS |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|");
    for r in runs {
        let _ = writeln!(
            out,
            "| {} | {:.1} s | {:.0} | {} |",
            r.n,
            r.time.as_secs_f64(),
            per_second(r.n, r.time),
            mib(r.rss)
        );
    }
    if let Some(r) = runs.first() {
        let _ = writeln!(out);
        let _ = write!(out, "{}", machine(r));
    }
    out
}

fn machine(b: &Backlog) -> String {
    let s = &b.settings;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| kib(&m, "MemTotal"));
    let load = b.load.split_whitespace().take(3).collect::<Vec<_>>();
    format!(
        "- Machine: {cores} cores, {} RAM; RabbitMQ, PostgreSQL, Herald and the bench (publisher, \
         SMTP sink, webhook receiver) all on it; load average before the run: {}; PostgreSQL \
         autovacuum: {}\n\
         - Settings: HERALD_PREFETCH={}, HERALD_EMAIL_CONCURRENCY={}, HERALD_WEBHOOK_CONCURRENCY={} \
         (one endpoint, so at most {} webhook requests in flight), HERALD_EMAIL_RATE_LIMIT=0, \
         RUST_LOG=warn",
        mib(mem),
        load.join(" "),
        b.autovacuum,
        s.prefetch,
        s.email_concurrency,
        s.webhook_concurrency,
        s.webhook_per_endpoint()
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.backlog;
        let herald = per_second(b.n, b.time);
        writeln!(
            f,
            "| Measurement ({} events, {}) | Time | Events/s |",
            b.n,
            b.mix.name()
        )?;
        writeln!(f, "|---|---:|---:|")?;
        writeln!(
            f,
            "| **Herald end to end** ({} emails, {} webhooks) | {:.1} s | **{herald:.0}** |",
            b.emails,
            b.n,
            b.time.as_secs_f64()
        )?;
        for (name, time, items) in &self.baselines {
            writeln!(
                f,
                "| Raw: {name} ({items}) | {:.1} s | {:.0} |",
                time.as_secs_f64(),
                per_second(b.n, *time)
            )?;
        }
        // Herald's own code is never a baseline: each ratio is to raw work.
        for (name, time, _) in &self.baselines {
            let ratio = herald / per_second(b.n, *time);
            writeln!(f, "| Herald ÷ {name} | | **{ratio:.2}×** |")?;
        }
        if let Some((time, items)) = self.lettre_pool {
            writeln!(
                f,
                "| For comparison, not a bound: SMTP send through lettre's own pool (no TCP_NODELAY) ({items}) | {:.1} s | {:.0} |",
                time.as_secs_f64(),
                per_second(b.n, time)
            )?;
        }
        if let Some(p) = &self.paced {
            writeln!(f)?;
            writeln!(
                f,
                "| Paced: {} invite.created at {:.0}/s (half of Herald's rate) | p50 | p95 | p99 |",
                p.events, p.rate
            )?;
            writeln!(f, "|---|---:|---:|---:|")?;
            for (what, q) in [
                ("publish → email at SMTP sink", &p.email),
                ("publish → webhook at receiver", &p.webhook),
            ] {
                writeln!(
                    f,
                    "| {what} | {:.0} ms | {:.0} ms | {:.0} ms |",
                    q.p50, q.p95, q.p99
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "- Herald's peak RSS (VmHWM of its own process): {} after the backlog, {} at the end",
            mib(b.rss),
            mib(self.rss_peak)
        )?;
        write!(f, "{}", machine(b))
    }
}
