//! Each scenario: 1,000 mixed events in flight (after 200 seed invites),
//! one fault mid-stream, then the verdict: every event processed exactly
//! once, every email and webhook delivered, nothing dead-lettered, and no
//! more duplicate sends than were in flight when the fault struck.

use super::stack::{Stack, WEBHOOK_TIMEOUT};
use super::stream::{self, Expected};
use super::verdict::{InFlight, settle};
use crate::proxy::Proxy;
use crate::receiver::{self, Receiver};
use crate::smtp_sink::Reply;
use herald::webhooks::endpoints;
use serde_json::json;
use std::time::{Duration, Instant};

/// Groups of ten: 1,000 events.
const TENS: usize = 100;
/// How long each outage lasts.
const OUTAGE: Duration = Duration::from_secs(10);

/// A stack with `workers` workers running and the stream published.
async fn under_way(workers: usize) -> (Stack, Expected) {
    let mut stack = Stack::new().await;
    for _ in 0..workers {
        stack.start_worker();
    }
    let (stream, expected) = stream::mixed(TENS);
    stack.publish(&stream).await;
    (stack, expected)
}

/// Waits until a fifth of the stream is processed, and checks that the
/// fault to come still finds most of it in flight.
async fn mid_stream(stack: &Stack, expected: &Expected) {
    stack
        .wait_stream_processed(expected, (TENS * 2) as i64)
        .await;
    let processed = stack.app.processed().await;
    assert!(
        processed < expected.events,
        "the fault comes mid-stream ({processed} of {})",
        expected.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart() {
    let (mut stack, expected) = under_way(1).await;
    mid_stream(&stack, &expected).await;
    stack.kill(0);
    stack.start_worker();
    let allowed = InFlight::of(&stack, 1);
    settle(&stack, &expected, allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_stream_stops_cleanly_and_sends_nothing_twice() {
    let (mut stack, expected) = under_way(1).await;
    mid_stream(&stack, &expected).await;
    let status = stack.terminate(0).await;
    assert!(status.success(), "graceful exit, got {status}");
    stack.start_worker();
    settle(&stack, &expected, InFlight::NONE).await;
}

/// Waits until a hundred more emails reached the SMTP server.
async fn hundred_emails_sent(stack: &Stack) {
    let sink = &stack.app.smtp;
    let started = sink.accepted();
    stack
        .wait("a hundred stream emails sent", || async {
            sink.accepted() >= started + 100
        })
        .await;
}

/// Cuts `proxy` for [`OUTAGE`] once the stream is under way.
async fn outage_mid_stream(stack: &Stack, expected: &Expected, proxy: &Proxy) {
    mid_stream(stack, expected).await;
    proxy.cut();
    tokio::time::sleep(OUTAGE).await;
    proxy.restore();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connection_cut_for_ten_seconds() {
    let (stack, expected) = under_way(1).await;
    let proxy = stack.app.amqp_proxy.as_ref().unwrap();
    outage_mid_stream(&stack, &expected, proxy).await;
    // Events committed but not acked come back and are skipped by id.
    settle(&stack, &expected, InFlight::NONE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_unreachable_for_ten_seconds() {
    let (stack, expected) = under_way(1).await;
    let proxy = stack.app.db_proxy.as_ref().unwrap();
    outage_mid_stream(&stack, &expected, proxy).await;
    // Sends whose results could not be recorded are recorded once the
    // database is back; their leases lapse meanwhile, but the worker still
    // holds them, so none goes out twice.
    settle(&stack, &expected, InFlight::NONE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_refusing_for_ten_seconds_then_answering_451() {
    let (stack, expected) = under_way(1).await;
    let sink = &stack.app.smtp;
    hundred_emails_sent(&stack).await;
    let proxy = stack.app.smtp_proxy.as_ref().unwrap();
    proxy.cut();
    let at_cut = sink.accepted() as i64;
    assert!(at_cut < expected.emails, "the cut comes mid-stream");
    tokio::time::sleep(OUTAGE).await;
    sink.otherwise(Reply::Code(451));
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sink.otherwise(Reply::Accept);
    // A message accepted just as the cut dropped its connection is sent
    // again: the sender never heard the 250.
    let allowed = InFlight::of(&stack, 1);
    settle(&stack, &expected, allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_receiver_down_for_ten_seconds_then_slow() {
    let (stack, expected) = under_way(1).await;
    let receiver = &stack.receiver;
    let started = receiver.count();
    stack
        .wait("a hundred stream webhooks delivered", || async {
            receiver.count() >= started + 100
        })
        .await;
    stack.hook_proxy.cut();
    assert!(
        (receiver.count() as i64) < expected.webhooks,
        "the cut comes mid-stream"
    );
    tokio::time::sleep(OUTAGE).await;
    // Back, but answering in most of the attempt's time.
    stack.hook_proxy.slow(WEBHOOK_TIMEOUT * 3 / 5);
    stack.hook_proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.hook_proxy.slow(Duration::ZERO);
    let allowed = InFlight::of(&stack, 1);
    settle(&stack, &expected, allowed).await;
}

async fn replicas_with_one_killed(replicas: usize) {
    let (mut stack, expected) = under_way(replicas).await;
    mid_stream(&stack, &expected).await;
    stack.kill(0);
    // Only what the killed replica held can go out twice.
    let allowed = InFlight::of(&stack, 1);
    settle(&stack, &expected, allowed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_killed_mid_stream() {
    replicas_with_one_killed(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_mid_stream() {
    replicas_with_one_killed(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poison_event_mid_stream_is_dead_lettered_alone_without_a_pause() {
    let mut stack = Stack::new().await;
    stack.start_worker();
    let (mut stream, mut expected) = stream::mixed(TENS);
    // PostgreSQL refuses an index row this large (SQLSTATE 54000), unless
    // the parser bounds it first: either way it is the event's own fault.
    let poison = json!({"email": "poison@example.test", "user_id": incompressible(8 * 1024)});
    let middle = stream.events.len() / 2;
    stream
        .events
        .insert(middle, ("user.password_reset", poison));
    expected.dead_letters = 1;
    stack.publish(&stream).await;
    settle(&stack, &expected, InFlight::NONE).await;
    let dead = stack.app.take_dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert!(
        crate::helpers::header(&dead[0].properties, "x-herald-error").is_some(),
        "the dead letter says why"
    );
    let pause = longest_pause(&stack, expected.seeds).await;
    assert!(pause < Duration::from_secs(5), "events waited {pause:?}");
}

/// Random text that no compression shrinks.
fn incompressible(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes).unwrap();
    bytes.iter().map(|b| char::from(b'!' + b % 90)).collect()
}

/// The longest time between two consecutive commits of stream events.
async fn longest_pause(stack: &Stack, seeds: i64) -> Duration {
    let times: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT processed_at FROM processed_events ORDER BY processed_at OFFSET $1",
    )
    .bind(seeds)
    .fetch_all(&stack.app.pool)
    .await
    .unwrap();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).to_std().unwrap_or_default())
        .max()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_endpoint_deleted_mid_stream_frees_every_slot() {
    let mut stack = Stack::new().await;
    // A second endpoint that never answers: its deliveries are in flight
    // (up to its cap) when it is deleted.
    let silent = Receiver::always(receiver::Reply::Hang).await;
    let url = silent.url();
    let doomed = stack.app.register(&url, &[]).await.0;
    let port = free_port();
    stack.start_worker_with(&[("HERALD_HTTP_ADDR", format!("127.0.0.1:{port}"))]);
    let (stream, expected) = stream::mixed(TENS);
    stack.publish(&stream).await;
    stack
        .wait("the silent endpoint's deliveries in flight", || async {
            silent.count() > 0
        })
        .await;
    endpoints::remove(&stack.app.pool, doomed).await.unwrap();
    settle(&stack, &expected, InFlight::NONE).await;
    // Every attempt to the deleted endpoint ended and gave its slot back.
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    stack
        .wait("no webhook send held", || async {
            let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
            gauge(&text, "herald_dispatch_in_flight{kind=\"webhook\"}") == Some(0.0)
        })
        .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn gauge(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_relay_refusing_every_session_for_ten_seconds_fails_no_email() {
    let (stack, expected) = under_way(1).await;
    let sink = &stack.app.smtp;
    hundred_emails_sent(&stack).await;
    // New sessions get 554 at the greeting; parked connections are
    // severed, so every send needs a new session.
    sink.refuse_sessions(true);
    stack.app.smtp_proxy.as_ref().unwrap().sever();
    assert!((sink.accepted() as i64) < expected.emails, "mid-stream");
    tokio::time::sleep(OUTAGE).await;
    sink.refuse_sessions(false);
    // A message accepted just as the cut dropped its connection is sent
    // again: the sender never heard the 250.
    settle(&stack, &expected, InFlight::of(&stack, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_database_is_unreachable_exits_in_time_and_loses_nothing() {
    let (mut stack, expected) = under_way(1).await;
    mid_stream(&stack, &expected).await;
    let proxy = stack.app.db_proxy.as_ref().unwrap();
    proxy.cut();
    let asked = Instant::now();
    let status = stack.terminate(0).await;
    let took = asked.elapsed();
    // The stack's webhook timeout (2 s), the SMTP timeout (2 s), the
    // record's grace (5 s) and a margin: the worker's own hard limit.
    assert!(took < Duration::from_secs(15), "took {took:?} ({status})");
    stack.app.db_proxy.as_ref().unwrap().restore();
    stack.start_worker();
    // What could not be recorded is sent again once its lease lapses.
    settle(&stack, &expected, InFlight::of(&stack, 1)).await;
}
