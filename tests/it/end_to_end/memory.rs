//! Memory stays bounded while a backlog waits behind slow SMTP and slow
//! webhooks: Herald holds at most its prefetch and its sends in flight, so
//! its resident size levels off instead of following the backlog.
//!
//! `HERALD_SOAK_EVENTS` sets the backlog (1,000 by default) for a longer run.

use super::stack::Stack;
use serde_json::json;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_levels_off_under_a_backlog_with_slow_smtp_and_webhooks() {
    let events: usize = std::env::var("HERALD_SOAK_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let mut stack = Stack::new().await;
    // Every SMTP reply and every webhook response held back.
    stack
        .app
        .smtp_proxy
        .as_ref()
        .unwrap()
        .slow(Duration::from_millis(10));
    stack.hook_proxy.slow(Duration::from_millis(20));
    let backlog: Vec<_> = (0..events)
        .map(|i| {
            let data = json!({"id": format!("inv-{i}"), "email": format!("m{i}@example.test")});
            ("invite.created", data)
        })
        .collect();
    stack.publish_all(&backlog).await;
    let worker = stack.start_worker();
    let pid = stack.pid(worker);

    // (emails and webhooks delivered so far, resident bytes), sampled until
    // everything is delivered.
    let mut samples = Vec::new();
    let total = events * 2;
    let started = std::time::Instant::now();
    loop {
        let done = stack.app.smtp.accepted() + stack.receiver.count();
        samples.push((done, status_bytes(pid, "VmRSS:")));
        if done >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the backlog drains within 10 minutes"
        );
    }
    let peak = status_bytes(pid, "VmHWM:");
    let max_between = |from: usize, to: usize| {
        samples
            .iter()
            .filter(|(done, _)| (from..to).contains(done))
            .map(|(_, rss)| *rss)
            .max()
            .unwrap_or(0)
    };
    let early = max_between(total / 4, total / 2);
    let late = max_between(total / 2, total + 1);
    eprintln!(
        "{events} events: peak RSS {} MiB; max RSS {} MiB in the second quarter, {} MiB in the second half",
        peak / MIB,
        early / MIB,
        late / MIB
    );
    assert!(early > 0 && late > 0, "samples in both halves");
    assert!(
        late <= early + 8 * MIB,
        "RSS kept growing: {} MiB then {} MiB",
        early / MIB,
        late / MIB
    );
    assert!(peak < 100 * MIB, "peak RSS {} MiB", peak / MIB);
}

/// A `/proc/<pid>/status` size line (kB) in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}
