//! Herald's throughput against raw baselines on the same services.
//!
//! ```text
//! cargo run --release --example bench -- [--events N] [--mixed]
//! ```
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and PostgreSQL on
//! 127.0.0.1:5432 (user postgres, trust). Everything it creates there has a
//! fresh name and is removed at the end. Progress goes to stderr, the
//! Markdown report to stdout.

#[path = "bench/baselines.rs"]
mod baselines;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/setup.rs"]
mod setup;
#[path = "bench/sinks.rs"]
mod sinks;
#[path = "bench/worker.rs"]
mod worker;

use herald::webhooks::endpoints::{NewEndpoint, create};
use report::Report;
use setup::Names;
use std::time::{Duration, Instant};
use worker::Worker;

/// Backlog size by default: on two shared cores this keeps the whole run,
/// baselines included, under three minutes (20,000 took 4 m 40 s).
const DEFAULT_EVENTS: usize = 10_000;
/// Events in the paced run, at most; fewer when Herald is slow, so the
/// paced run stays near 20 s.
const PACED_EVENTS: usize = 2_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (n, mixed) = args()?;
    let names = Names::new();
    eprintln!(
        "bench run {} ({n} events{})",
        names.run,
        if mixed { ", mixed" } else { "" }
    );
    let result = run(&names, n, mixed).await;
    eprintln!("cleaning up");
    names.clean_up().await;
    let report = result?;
    println!("{report}");
    Ok(())
}

fn args() -> anyhow::Result<(usize, bool)> {
    let (mut n, mut mixed) = (DEFAULT_EVENTS, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => n = args.next().unwrap_or_default().parse()?,
            "--mixed" => mixed = true,
            other => {
                anyhow::bail!("unknown argument {other:?}; usage: bench [--events N] [--mixed]")
            }
        }
    }
    anyhow::ensure!(n >= 10, "--events must be at least 10");
    Ok((n, mixed))
}

async fn run(names: &Names, n: usize, mixed: bool) -> anyhow::Result<Report> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let (smtp_addr, sink) = sinks::smtp_sink().await?;
    let (hook_addr, receiver) = sinks::webhook_receiver().await?;
    let hook_url = format!("http://{hook_addr}/hook");
    let settings = names.settings(&names.databases[0], smtp_addr);
    let events = setup::events(n, mixed, "e");
    let emails = events.iter().filter(|e| e.email.is_some()).count();

    eprintln!("preparing database and topology");
    let pool = herald::app::prepare_database(&settings).await?;
    herald::app::declare_topology(&settings).await?;
    register_endpoint(&pool, &hook_url).await?;
    let amqp = herald::intake::connect(setup::AMQP, "bench-publisher").await?;
    let ch = setup::confirming_channel(&amqp).await?;
    let published = Instant::now();
    setup::publish_all(&ch, &settings.exchange, None, &events).await?;
    eprintln!(
        "published {n} events in {:.1} s",
        published.elapsed().as_secs_f64()
    );

    let rss_before = report::status_kib("VmRSS");
    eprintln!("starting Herald: expecting {emails} emails and {n} webhooks");
    let started = Instant::now();
    let herald = Worker::start(settings.clone()).await?;
    herald.wait_for(&sink, &receiver, emails, n).await?;
    let herald_time = started.elapsed();
    let rate = n as f64 / herald_time.as_secs_f64();
    eprintln!(
        "Herald: {n} events in {:.1} s ({rate:.0}/s)",
        herald_time.as_secs_f64()
    );

    let paced_rate = rate / 2.0;
    let paced_n = PACED_EVENTS.min((paced_rate * 20.0) as usize).max(10);
    eprintln!("paced run: {paced_n} events at {paced_rate:.0}/s");
    let paced_events = setup::events(paced_n, false, "p");
    let paced = worker::paced(
        &herald,
        &ch,
        &settings.exchange,
        &paced_events,
        paced_rate,
        &sink,
        &receiver,
    )
    .await?;
    herald.stop().await?;
    let rss_peak = report::status_kib("VmHWM");
    let _ = amqp.close(200, "done".into()).await;
    pool.close().await;

    eprintln!("baseline: consume and ack");
    let amqp_time = baselines::amqp(names, settings.prefetch, &events).await?;
    eprintln!("baseline: {emails} emails over SMTP");
    let smtp_time = baselines::smtp(&settings, emails, &sink).await?;
    eprintln!("baseline: {n} signed webhooks");
    let hook_time =
        baselines::webhooks(&hook_url, settings.webhook_concurrency.into(), n, &receiver).await?;
    eprintln!("baseline: {n} transactions");
    let tx_settings = names.settings(&names.databases[1], smtp_addr);
    let db_time = baselines::database(&tx_settings, &hook_url, &events).await?;

    Ok(Report {
        n,
        emails,
        mixed,
        load,
        settings,
        herald: herald_time,
        baselines: [
            ("AMQP consume + ack (no work)", amqp_time, n),
            ("SMTP send, pooled lettre", smtp_time, emails),
            ("Webhook POST, signed, reqwest", hook_time, n),
            ("PostgreSQL: Herald's transaction per event", db_time, n),
        ],
        paced,
        rss_before,
        rss_peak,
    })
}

/// One endpoint subscribed to every event type, as an operator would add it.
pub async fn register_endpoint(pool: &sqlx::PgPool, url: &str) -> anyhow::Result<()> {
    create(
        pool,
        NewEndpoint {
            url,
            event_types: vec![],
            secret: None,
            allow_private: true,
        },
    )
    .await?;
    Ok(())
}

/// Events per second over `d`.
pub fn per_second(count: usize, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64()
}
