//! The token-guess throttle keys on the end user: one end user's misses
//! never refuse another's token, an untrusted peer cannot pick its own key,
//! and concurrent misses cannot slip past the limit.

use crate::helpers::{API_TOKEN, Options, TestApp};
use serde_json::json;
use std::time::{Duration, Instant};

/// The misses one end user may make per window (`http::AppState`).
const LIMIT: usize = 20;

async fn consume(app: &TestApp, token: &str, forwarded_for: Option<&str>) -> u16 {
    let mut request = app
        .client
        .post(app.url("/v1/password-resets/consume"))
        .bearer_auth(API_TOKEN)
        .json(&json!({ "token": token }));
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap().status().as_u16()
}

fn guess(i: usize) -> String {
    format!("guess-{i:040}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_end_users_misses_never_refuse_anothers_token() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    // The back end, on 127.0.0.1, forwards the end user's address.
    app.worker_settings.trusted_proxies =
        herald::settings::TrustedProxies(vec!["127.0.0.1/32".parse().unwrap()]);
    app.start_worker();
    app.publish("user.password_reset", json!({"email": "b@example.com"}))
        .await;
    let (_, token_b) = app.next_token().await;

    let (user_a, user_b) = ("203.0.113.7", "198.51.100.2");
    let mut statuses = Vec::new();
    for i in 0..25 {
        statuses.push(consume(&app, &guess(i), Some(user_a)).await);
    }
    assert_eq!(statuses[..LIMIT], [404; LIMIT]);
    assert_eq!(statuses[LIMIT..], [429; 5]);

    // A cannot borrow B's key by prepending B's address: only the right-most
    // address not of a trusted proxy counts.
    let spoofed = format!("{user_b}, {user_a}");
    assert_eq!(consume(&app, &guess(99), Some(&spoofed)).await, 429);

    assert_eq!(consume(&app, &token_b, Some(user_b)).await, 200);
    let started = Instant::now();
    assert_eq!(consume(&app, &guess(100), Some(user_a)).await, 429);
    assert!(
        started.elapsed() >= Duration::from_millis(25),
        "a 429 takes the same minimum time as any other answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let app = TestApp::spawn().await;
    for i in 0..LIMIT {
        // A new address each time: were it believed, nobody would be throttled.
        let forged = format!("192.0.2.{i}");
        assert_eq!(consume(&app, &guess(i), Some(&forged)).await, 404);
    }
    assert_eq!(consume(&app, &guess(50), Some("192.0.2.200")).await, 429);
    assert_eq!(consume(&app, &guess(51), None).await, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_do_not_pass_the_limit() {
    let app = TestApp::spawn().await;
    let requests = (0..100).map(|i| {
        let app = &app;
        async move { consume(app, &guess(i), None).await }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let misses = statuses.iter().filter(|s| **s == 404).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((misses, refused), (LIMIT, 100 - LIMIT), "{statuses:?}");
}
