//! Each scenario: 1,000 mixed events in flight (after 200 seed invites),
//! one fault mid-stream, then the verdict: every event processed exactly
//! once, every email and webhook delivered, nothing dead-lettered, and no
//! more duplicate sends than were in flight when the fault struck.

use super::stack::{Stack, WEBHOOK_TIMEOUT};
use super::stream::{self, Expected};
use super::verdict::{InFlight, settle};
use crate::proxy::Proxy;
use crate::smtp_sink::Reply;
use std::time::Duration;

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
    let started = sink.accepted();
    stack
        .wait("a hundred stream emails sent", || async {
            sink.accepted() >= started + 100
        })
        .await;
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
