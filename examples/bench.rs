//! Herald's throughput against raw baselines on the same services.
//!
//! ```text
//! cargo run --release --example bench -- [--events N] [--mixed | --webhooks-only] [--scaling]
//! ```
//!
//! Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and PostgreSQL on
//! 127.0.0.1:5432 (user postgres, trust). Everything it creates there has a
//! fresh name and is removed at the end. Herald runs as a child process (this
//! binary re-run with `--herald run …`), so its peak RSS is its own. Progress
//! goes to stderr, the Markdown report to stdout.

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
use report::{Backlog, Report};
use setup::{Mix, Names};
use std::time::{Duration, Instant};
use worker::Worker;

const DEFAULT_EVENTS: usize = 20_000;
/// Events in the paced run, at most; fewer when Herald is slow, so the
/// paced run stays near 20 s.
const PACED_EVENTS: usize = 2_000;
/// Backlogs drained by `--scaling`.
const SCALING: [usize; 3] = [2_000, 20_000, 100_000];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--herald") {
        return worker::child_main(args.skip(1).collect());
    }
    let (n, mix, scaling) = parse(args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if scaling {
            let mut runs = Vec::new();
            for n in SCALING {
                let names = names(n, mix);
                let result = backlog_only(&names, n, mix).await;
                names.clean_up().await;
                runs.push(result?);
            }
            println!("{}", report::scaling(&runs));
        } else {
            let names = names(n, mix);
            let result = run(&names, n, mix).await;
            names.clean_up().await;
            println!("{}", result?);
        }
        Ok(())
    })
}

fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<(usize, Mix, bool)> {
    let (mut n, mut mix, mut scaling) = (DEFAULT_EVENTS, Mix::Invites, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--events" => n = args.next().unwrap_or_default().parse()?,
            "--mixed" => mix = Mix::Mixed,
            "--webhooks-only" => mix = Mix::WebhooksOnly,
            "--scaling" => scaling = true,
            other => anyhow::bail!(
                "unknown argument {other:?}; usage: bench [--events N] [--mixed | --webhooks-only] [--scaling]"
            ),
        }
    }
    anyhow::ensure!(n >= 10, "--events must be at least 10");
    Ok((n, mix, scaling))
}

/// Fresh names for one run, announced on stderr.
fn names(n: usize, mix: Mix) -> Names {
    let names = Names::new();
    eprintln!("bench run {} ({n} events, {})", names.run, mix.name());
    names
}

/// The backlog drained by Herald; Herald is left running for what follows.
async fn backlog(
    names: &Names,
    n: usize,
    mix: Mix,
) -> anyhow::Result<(Backlog, Worker, sinks::Sinks, lapin::Connection)> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let sinks = sinks::Sinks::start().await?;
    let args = names.args(&names.databases[0], sinks.smtp);
    let settings = setup::settings(&args);
    let events = setup::events(n, mix, "e");
    let emails = events.iter().filter(|e| e.email.is_some()).count();

    eprintln!("preparing database and topology");
    let pool = herald::app::prepare_database(&settings.database, &settings.keys).await?;
    herald::app::declare_topology(&settings.broker).await?;
    register_endpoint(&pool, &settings, &sinks.hook_url).await?;
    // Without autovacuum, the queue tables keep every dead row version and
    // claims slow down as a backlog drains: the report says which it was.
    let autovacuum: String = sqlx::query_scalar("SHOW autovacuum")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    let amqp = herald::intake::connect(setup::AMQP, "bench-publisher").await?;
    let ch = setup::confirming_channel(&amqp).await?;
    let published = Instant::now();
    setup::publish_all(&ch, &settings.broker.exchange, None, &events).await?;
    eprintln!(
        "published {n} events in {:.1} s",
        published.elapsed().as_secs_f64()
    );

    eprintln!("starting Herald: expecting {emails} emails and {n} webhooks");
    let started = Instant::now();
    let mut herald = Worker::start(&args)?;
    herald
        .wait_for(&sinks.mail, &sinks.hooks, emails, n)
        .await?;
    let time = started.elapsed();
    eprintln!(
        "Herald: {n} events in {:.1} s ({:.0}/s)",
        time.as_secs_f64(),
        per_second(n, time)
    );
    let rss = herald.status_kib("VmHWM");
    let backlog = Backlog {
        n,
        emails,
        mix,
        load,
        autovacuum,
        settings,
        time,
        rss,
    };
    Ok((backlog, herald, sinks, amqp))
}

async fn backlog_only(names: &Names, n: usize, mix: Mix) -> anyhow::Result<Backlog> {
    let (backlog, herald, _sinks, amqp) = backlog(names, n, mix).await?;
    herald.stop().await?;
    let _ = amqp.close(200, "done".into()).await;
    Ok(backlog)
}

async fn run(names: &Names, n: usize, mix: Mix) -> anyhow::Result<Report> {
    let (backlog, mut herald, sinks, amqp) = backlog(names, n, mix).await?;
    let settings = backlog.settings.clone();
    // Paced invites measure event-to-email latency at half the rate just
    // sustained; a webhooks-only rate is no guide to what invites sustain.
    let paced = if mix == Mix::WebhooksOnly {
        None
    } else {
        let paced_rate = per_second(n, backlog.time) / 2.0;
        let paced_n = PACED_EVENTS.min((paced_rate * 20.0) as usize).max(10);
        eprintln!("paced run: {paced_n} events at {paced_rate:.0}/s");
        let ch = setup::confirming_channel(&amqp).await?;
        let paced_events = setup::events(paced_n, Mix::Invites, "p");
        let paced = worker::paced(
            &mut herald,
            &ch,
            &settings.broker.exchange,
            &paced_events,
            paced_rate,
            &sinks,
        )
        .await?;
        Some(paced)
    };
    let rss_peak = herald.status_kib("VmHWM");
    herald.stop().await?;
    let _ = amqp.close(200, "done".into()).await;

    let events = setup::events(n, mix, "e");
    let emails = backlog.emails;
    eprintln!("baseline: consume and ack");
    let amqp_time = baselines::amqp(names, settings.prefetch, &events).await?;
    let mut baselines = vec![("AMQP consume + ack (no work)", amqp_time, n)];
    let mut lettre_pool = None;
    if emails > 0 {
        eprintln!("baseline: {emails} emails over SMTP, TCP_NODELAY");
        let smtp_time = baselines::smtp_nodelay(&settings, emails, &sinks.mail).await?;
        baselines.push((
            "SMTP send, lettre connections with TCP_NODELAY",
            smtp_time,
            emails,
        ));
        eprintln!("baseline: {emails} emails over SMTP, lettre's pool");
        let lettre_time = baselines::smtp_lettre_pool(&settings, emails, &sinks.mail).await?;
        lettre_pool = Some((lettre_time, emails));
    }
    eprintln!("baseline: {n} signed webhooks");
    let hooks = usize::from(settings.webhook_per_endpoint());
    let hook_time = baselines::webhooks(&sinks.hook_url, hooks, n, &sinks.hooks).await?;
    eprintln!("baseline: {n} event-shaped PostgreSQL commits");
    let raw_db = setup::settings(&names.args(&names.databases[1], sinks.smtp))
        .database
        .url;
    let db_time = baselines::event_commits(&raw_db, n).await?;

    baselines.push(("Webhook POST, signed, reqwest", hook_time, n));
    baselines.push((
        "PostgreSQL, one event-shaped commit each (4 INSERT + 1 UPDATE), 4 clients",
        db_time,
        n,
    ));
    Ok(Report {
        backlog,
        baselines,
        lettre_pool,
        paced,
        rss_peak,
    })
}

/// One endpoint subscribed to every event type, as an operator would add it.
pub async fn register_endpoint(
    pool: &sqlx::PgPool,
    settings: &herald::settings::Settings,
    url: &str,
) -> anyhow::Result<()> {
    create(
        pool,
        &settings.keys.secret_key()?,
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
