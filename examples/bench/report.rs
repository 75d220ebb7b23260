//! The Markdown report, and the machine it ran on.

use crate::per_second;
use crate::worker::Paced;
use herald::settings::Settings;
use std::fmt;
use std::time::Duration;

pub struct Report {
    pub n: usize,
    pub emails: usize,
    pub mixed: bool,
    /// `/proc/loadavg` before the run: what else was keeping the machine busy.
    pub load: String,
    pub settings: Settings,
    pub herald: Duration,
    /// Name, time, and items (messages, emails, requests, transactions) done.
    pub baselines: [(&'static str, Duration, usize); 4],
    pub paced: Paced,
    pub rss_before: Option<u64>,
    pub rss_peak: Option<u64>,
}

/// A `/proc/self/status` field in KiB.
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib(&status, field)
}

fn kib(text: &str, field: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        let herald = per_second(self.n, self.herald);
        let kinds = if self.mixed {
            "mixed kinds"
        } else {
            "invite.created"
        };
        writeln!(
            f,
            "| Measurement ({} events, {kinds}) | Time | Events/s |",
            self.n
        )?;
        writeln!(f, "|---|---:|---:|")?;
        writeln!(
            f,
            "| **Herald end to end** ({} emails, {} webhooks) | {:.1} s | **{herald:.0}** |",
            self.emails,
            self.n,
            self.herald.as_secs_f64()
        )?;
        for (name, time, items) in &self.baselines {
            writeln!(
                f,
                "| Raw: {name} ({items}) | {:.1} s | {:.0} |",
                time.as_secs_f64(),
                per_second(self.n, *time)
            )?;
        }
        let (slowest, time, _) = self
            .baselines
            .iter()
            .max_by_key(|(_, time, _)| *time)
            .expect("four baselines");
        let ratio = herald / per_second(self.n, *time) * 100.0;
        writeln!(
            f,
            "| Herald ÷ slowest raw baseline ({slowest}) | | **{ratio:.0} %** |"
        )?;
        let p = &self.paced;
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
        writeln!(f)?;
        writeln!(
            f,
            "- Peak RSS (VmHWM of the bench process after Herald's phases, which runs Herald in-process \
             along with the publisher, SMTP sink and receiver; baselines run after and are not in it): {} \
             (RSS before Herald started: {})",
            mib(self.rss_peak),
            mib(self.rss_before)
        )?;
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| kib(&m, "MemTotal"));
        writeln!(
            f,
            "- Machine: {cores} cores, {} RAM; RabbitMQ, PostgreSQL and the bench (Herald, sink, \
             receiver, publisher) all on it; load average before the run: {}",
            mib(mem),
            self.load
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        write!(
            f,
            "- Settings: HERALD_PREFETCH={}, HERALD_EMAIL_CONCURRENCY={}, HERALD_WEBHOOK_CONCURRENCY={} \
             (one endpoint, so at most {} webhook requests in flight), HERALD_EMAIL_RATE_LIMIT=0, logs off",
            s.prefetch,
            s.email_concurrency,
            s.webhook_concurrency,
            (s.webhook_concurrency / 4).max(1)
        )
    }
}
