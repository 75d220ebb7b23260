//! Webhooks out: every processed event reaches its subscribed endpoints,
//! signed per Standard Webhooks, retried, replayable, and never to a
//! private address unless allowed. Receivers are real HTTP servers.

use crate::helpers::{Options, TestApp, herald_bin, wait_until};
use crate::receiver::{Received, Receiver, Reply};
use herald::settings::Schedule;
use herald::webhooks::endpoints::{self, EndpointError, NewEndpoint};
use serde_json::{Value, json};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A worker-less app whose worker, once started, retries fast and may reach 127.0.0.1.
async fn app_with(schedule_ms: &[u64], timeout: Duration) -> TestApp {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let s = &mut app.worker_settings;
    s.webhook_retry_schedule = Schedule(
        schedule_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect(),
    );
    s.webhook_timeout = timeout;
    s.targets.webhook_allow_private = true;
    app
}

/// Status and attempt count of each delivery to `endpoint`.
async fn deliveries(app: &TestApp, endpoint: Uuid) -> Vec<(String, i32)> {
    sqlx::query_as(
        "SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY id",
    )
    .bind(endpoint)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn wait_deliveries(app: &TestApp, endpoint: Uuid, n: usize, status: &str) {
    wait_until(&format!("{n} deliveries {status}"), || async {
        let rows = deliveries(app, endpoint).await;
        rows.len() == n && rows.iter().all(|(s, _)| s == status)
    })
    .await;
}

#[derive(Debug, sqlx::FromRow)]
struct AttemptRow {
    status_code: Option<i32>,
    latency_ms: i32,
    outcome: String,
    response_excerpt: Option<String>,
    error: Option<String>,
}

async fn attempts(app: &TestApp, endpoint: Uuid) -> Vec<AttemptRow> {
    sqlx::query_as(
        "SELECT status_code, latency_ms, outcome, response_excerpt, error FROM webhook_attempts
         WHERE endpoint_id = $1 ORDER BY attempted_at, attempt",
    )
    .bind(endpoint)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

/// Checks the signature with the reference Standard Webhooks library.
fn verify(secret: &str, request: &Received) -> Value {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(request.body.as_bytes(), &request.headers)
        .expect("signature verifies");
    assert_eq!(request.headers["content-type"], "application/json");
    serde_json::from_str(&request.body).unwrap()
}

fn webhook_id(request: &Received) -> String {
    request.headers["webhook-id"].to_str().unwrap().to_owned()
}

fn has_token_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("token") || has_token_key(v)),
        Value::Array(items) => items.iter().any(has_token_key),
        _ => false,
    }
}

/// Runs the real binary against this app.
async fn herald(app: &TestApp, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = herald_bin();
    cmd.args(args).envs(app.env());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_processed_event_reaches_subscribed_endpoints_once_signed_and_without_tokens() {
    let mut app = app_with(&[100, 100], Duration::from_secs(2)).await;
    let (all, only_created, other, disabled) = (
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
    );
    let (all_id, all_secret) = app.register(&all.url(), &[]).await;
    let (created_id, created_secret) = app.register(&only_created.url(), &["user.created"]).await;
    let (other_id, _) = app.register(&other.url(), &["order.placed"]).await;
    let (disabled_id, _) = app.register(&disabled.url(), &[]).await;
    endpoints::disable(&app.pool, disabled_id, "test")
        .await
        .unwrap();
    app.start_worker();

    let given = [
        "upstream-invite-token-0001",
        "nested-metadata-token-0002",
        "upstream-resent-token-0003",
        "upstream-reset-token-00004",
    ];
    app.publish(
        "invite.created",
        json!({"id": "inv_w", "email": "ada@example.com", "role": "admin", "token": given[0],
               "metadata": {"token": given[1]}}),
    )
    .await;
    app.wait_processed(1).await;
    // An invite id already held: nothing changes, but it is still forwarded.
    app.publish(
        "invite.created",
        json!({"id": "inv_w", "email": "other@example.com"}),
    )
    .await;
    app.wait_processed(2).await;
    app.publish("invite.resent", json!({"id": "inv_w", "token": given[2]}))
        .await;
    app.wait_processed(3).await;
    // Accepted only once both invite emails are out: an invite accepted
    // first would end its unsent emails `expired`.
    wait_until("both invite emails sent", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE template = 'invite' AND status = 'sent'")
            .await
            == 2
    })
    .await;
    app.publish("invite.accepted", json!({"id": "inv_w"})).await;
    app.publish(
        "user.password_reset",
        json!({"email": "bob@example.com", "user_id": "u_1"}),
    )
    .await;
    // Not a user: no token minted, no email, but forwarded.
    app.publish(
        "auth.password_reset",
        json!({"entity_id": "carol@example.com", "actor_type": "customer", "token": given[3]}),
    )
    .await;
    let created = json!({"id": "u_1", "email": "bob@example.com"});
    let created_event = app.publish("user.created", created.clone()).await;
    app.publish("user.updated", json!({"id": "u_1"})).await;
    app.publish(
        "user.deleted",
        json!({"id": "u_1", "email": "bob@example.com"}),
    )
    .await;
    // Neither a duplicate nor a dead-lettered event is forwarded.
    app.publish_with_id("user.created", &created_event, created)
        .await;
    app.publish("invite.resent", json!({"id": "inv_unknown"}))
        .await;
    app.publish("user.updated", json!({"id": "sentinel"})).await;
    app.wait_processed(10).await;
    wait_deliveries(&app, all_id, 10, "delivered").await;
    wait_deliveries(&app, created_id, 1, "delivered").await;

    let requests = all.received();
    assert_eq!(requests.len(), 10, "each event once");
    let mut secrets: Vec<String> = given.iter().map(|t| t.to_string()).collect();
    // Minted tokens leave Herald only in emails; take them from there.
    app.wait_emails_final().await;
    for email in app.smtp.drain().await {
        let text = String::from_utf8_lossy(&email.data).replace("=\r\n", "");
        if let Some(at) = text.find("?token=") {
            let token: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
                .collect();
            if !secrets.contains(&token) {
                secrets.push(token);
            }
        }
    }
    assert_eq!(secrets.len(), 7, "two minted tokens besides the given ones");
    let mut types = Vec::new();
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for request in &requests {
        let body = verify(&all_secret, request);
        for secret in &secrets {
            assert!(!request.body.contains(secret.as_str()), "token in body");
            for value in request.headers.values() {
                assert!(
                    !value.to_str().unwrap().contains(secret.as_str()),
                    "token in a header"
                );
            }
        }
        assert!(!has_token_key(&body), "a token key in {body}");
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
        types.push(body["type"].as_str().unwrap().to_owned());
        ids.push(webhook_id(request));
        bodies.push(body);
    }
    types.sort();
    assert_eq!(
        types,
        [
            "auth.password_reset",
            "invite.accepted",
            "invite.created",
            "invite.created",
            "invite.resent",
            "user.created",
            "user.deleted",
            "user.password_reset",
            "user.updated",
            "user.updated"
        ]
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "one webhook-id per message");

    let accepted = bodies
        .iter()
        .find(|b| b["type"] == "invite.accepted")
        .unwrap();
    assert_eq!(accepted["data"]["id"], "inv_w");
    assert_eq!(accepted["data"]["email"], "ada@example.com");
    assert_eq!(accepted["data"]["role"], "admin");
    assert_eq!(accepted["data"]["status"], "accepted");
    chrono::DateTime::parse_from_rfc3339(accepted["data"]["expires_at"].as_str().unwrap()).unwrap();
    let reset = bodies
        .iter()
        .find(|b| b["type"] == "auth.password_reset")
        .unwrap();
    assert_eq!(reset["data"]["actor_type"], "customer");

    let only = only_created.received();
    assert_eq!(only.len(), 1);
    assert_eq!(verify(&created_secret, &only[0])["type"], "user.created");
    assert!(other.received().is_empty(), "filtered to other types");
    assert!(disabled.received().is_empty(), "disabled");
    assert!(deliveries(&app, other_id).await.is_empty());
    assert!(deliveries(&app, disabled_id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_the_same_webhook_id_and_every_attempt_recorded() {
    let mut app = app_with(&[100, 100], Duration::from_secs(2)).await;
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(500)]).await;
    let (id, secret) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_r"})).await;
    wait_deliveries(&app, id, 1, "delivered").await;

    let requests = receiver.received();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        verify(&secret, request);
        assert_eq!(webhook_id(request), webhook_id(&requests[0]));
    }
    assert_eq!(deliveries(&app, id).await, [("delivered".to_owned(), 3)]);
    let attempts = attempts(&app, id).await;
    let codes: Vec<_> = attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(200)]);
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "retry", "delivered"]);
    assert_eq!(attempts[0].response_excerpt.as_deref(), Some("answer 500"));
    assert!(
        attempts
            .iter()
            .all(|a| a.latency_ms >= 0 && a.latency_ms < 2000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_schedule_fails_the_delivery_and_replay_delivers_it() {
    let mut app = app_with(&[100], Duration::from_secs(2)).await;
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(503)]).await;
    let (id, secret) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_f"})).await;
    wait_deliveries(&app, id, 1, "failed").await;
    assert_eq!(deliveries(&app, id).await, [("failed".to_owned(), 2)]);
    assert_eq!(receiver.received().len(), 2);

    let output = herald(&app, &["webhooks", "replay", "--since", "1h"], &[]).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output).trim(), "replayed 1");
    wait_deliveries(&app, id, 1, "delivered").await;
    let requests = receiver.received();
    assert_eq!(requests.len(), 3);
    verify(&secret, &requests[2]);
    assert_eq!(webhook_id(&requests[2]), webhook_id(&requests[0]));
    assert_eq!(attempts(&app, id).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_429_is_honoured() {
    let mut app = app_with(&[100], Duration::from_secs(2)).await;
    let too_many = Reply::WithHeaders(429, vec![("retry-after", "1".into())]);
    let receiver = Receiver::start(vec![too_many]).await;
    let (id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_429"})).await;
    wait_deliveries(&app, id, 1, "delivered").await;
    let requests = receiver.received();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].at - requests[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_endpoint() {
    let mut app = app_with(&[100, 100], Duration::from_secs(2)).await;
    let receiver = Receiver::start(vec![Reply::Status(410)]).await;
    let (id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_gone"})).await;
    wait_deliveries(&app, id, 1, "failed").await;
    let endpoint = endpoints::get(&app.pool, id).await.unwrap();
    assert!(!endpoint.enabled);
    assert!(endpoint.disabled_reason.unwrap().contains("410"));

    app.publish("user.updated", json!({"id": "after"})).await;
    app.wait_processed(2).await;
    assert_eq!(deliveries(&app, id).await.len(), 1, "nothing more for it");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let mut app = app_with(&[100; 20], Duration::from_secs(2)).await;
    app.worker_settings.webhook_disable_after = Duration::from_millis(300);
    let receiver = Receiver::always(Reply::Status(500)).await;
    let (id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_down"})).await;
    wait_until("the endpoint is disabled", || async {
        !endpoints::get(&app.pool, id).await.unwrap().enabled
    })
    .await;
    let endpoint = endpoints::get(&app.pool, id).await.unwrap();
    assert!(
        endpoint
            .disabled_reason
            .unwrap()
            .starts_with("every attempt failed since")
    );
    let tries = receiver.received().len();
    assert!((2..20).contains(&tries), "{tries} attempts");
    // Kept, not failed: it resumes when the endpoint is enabled again.
    assert_eq!(deliveries(&app, id).await[0].0, "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let mut app = app_with(&[100], Duration::from_secs(2)).await;
    let redirect = Reply::WithHeaders(302, vec![("location", "/elsewhere".into())]);
    let receiver = Receiver::start(vec![redirect]).await;
    let (id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_302"})).await;
    wait_deliveries(&app, id, 1, "delivered").await;
    let paths: Vec<_> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/hook", "/hook"]);
    let codes: Vec<_> = attempts(&app, id)
        .await
        .iter()
        .map(|a| (a.status_code, a.outcome.clone()))
        .collect();
    assert_eq!(
        codes,
        [
            (Some(302), "retry".to_owned()),
            (Some(200), "delivered".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_is_cut_at_the_timeout() {
    let mut app = app_with(&[100], Duration::from_secs(1)).await;
    let receiver = Receiver::start(vec![Reply::Hang]).await;
    let (id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_hang"})).await;
    wait_deliveries(&app, id, 1, "delivered").await;
    let attempts = attempts(&app, id).await;
    assert_eq!(attempts.len(), 2);
    let cut = &attempts[0];
    assert_eq!(cut.status_code, None);
    assert!(
        cut.error.as_deref().unwrap().contains("timed out"),
        "{cut:?}"
    );
    assert!((900..2500).contains(&cut.latency_ms), "{cut:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hanging_endpoint_does_not_delay_another() {
    let mut app = app_with(&[100], Duration::from_secs(20)).await;
    // Four slots, so at most one per endpoint: without that cap the slow
    // endpoint's backlog would take every slot.
    app.worker_settings.webhook_concurrency = 4;
    let slow = Receiver::always(Reply::Hang).await;
    let fast = Receiver::start(vec![]).await;
    let (slow_id, _) = app.register(&slow.url(), &[]).await;
    let (fast_id, _) = app.register(&fast.url(), &[]).await;
    app.start_worker();
    let started = Instant::now();
    for n in 0..5 {
        app.publish("user.updated", json!({"id": format!("u_{n}")}))
            .await;
    }
    wait_deliveries(&app, fast_id, 5, "delivered").await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(fast.received().len(), 5);
    assert_eq!(
        slow.received().len(),
        1,
        "one request at a time per endpoint"
    );
    assert!(
        deliveries(&app, slow_id)
            .await
            .iter()
            .all(|(s, _)| s == "pending")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_whose_worker_was_killed_is_reclaimed_after_its_lease() {
    let mut app = app_with(&[100], Duration::from_secs(1)).await;
    let receiver = Receiver::start(vec![Reply::Hang]).await;
    let (id, secret) = app.register(&receiver.url(), &[]).await;
    let mut worker = herald_bin()
        .arg("run")
        .envs(app.env())
        .env("HERALD_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("HERALD_WEBHOOK_TIMEOUT", "1s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    app.publish("user.updated", json!({"id": "u_kill"})).await;
    receiver.wait_for(1).await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert!(
        attempts(&app, id).await.is_empty(),
        "killed before recording"
    );
    assert_eq!(deliveries(&app, id).await, [("pending".to_owned(), 1)]);

    app.start_worker();
    wait_deliveries(&app, id, 1, "delivered").await;
    let requests = receiver.received();
    assert_eq!(requests.len(), 2);
    verify(&secret, &requests[1]);
    assert_eq!(webhook_id(&requests[1]), webhook_id(&requests[0]));
    assert_eq!(deliveries(&app, id).await, [("delivered".to_owned(), 2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_at_registration_and_at_send_time() {
    let mut app = app_with(&[100], Duration::from_secs(2)).await;
    let refused = endpoints::create(
        &app.pool,
        &app.key,
        NewEndpoint {
            url: "http://10.1.2.3/hook",
            event_types: vec![],
            secret: None,
            allow_private: false,
        },
    )
    .await;
    assert!(matches!(refused, Err(EndpointError::PrivateTarget(_))));
    let output = herald(&app, &["webhooks", "add", "http://localhost:9/hook"], &[]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a public address"));

    // Registered while allowed, sent by a worker that is not.
    app.worker_settings.targets.webhook_allow_private = false;
    let receiver = Receiver::start(vec![]).await;
    let by_name = format!("http://localhost:{}/hook", receiver.addr.port());
    let (name_id, _) = app.register(&by_name, &[]).await;
    let (literal_id, _) = app.register(&receiver.url(), &[]).await;
    app.start_worker();
    app.publish("user.updated", json!({"id": "u_ssrf"})).await;
    wait_deliveries(&app, name_id, 1, "failed").await;
    wait_deliveries(&app, literal_id, 1, "failed").await;
    for (endpoint, says) in [
        (name_id, "localhost resolves to no public address"),
        (literal_id, "127.0.0.1 is not a public address"),
    ] {
        let attempts = attempts(&app, endpoint).await;
        assert_eq!(attempts.len(), 2);
        for attempt in attempts {
            assert_eq!(attempt.status_code, None);
            assert!(
                attempt.error.as_deref().unwrap().contains(says),
                "{attempt:?}"
            );
        }
    }
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_adds_lists_disables_enables_and_removes_endpoints() {
    let app = app_with(&[100], Duration::from_secs(2)).await;
    let given = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let args = [
        "webhooks",
        "add",
        "https://example.com/hook",
        "--events",
        "user.created,user.deleted",
        "--secret",
        given,
    ];
    let output = herald(&app, &args, &[]).await;
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    let id = text
        .lines()
        .next()
        .unwrap()
        .strip_prefix("id: ")
        .unwrap()
        .to_owned();
    assert_eq!(
        text.lines().nth(1),
        Some(format!("secret: {given}").as_str())
    );
    let output = herald(&app, &["webhooks", "add", "https://example.org/hook"], &[]).await;
    let generated = stdout(&output).lines().nth(1).unwrap().to_owned();
    assert!(generated.starts_with("secret: whsec_"));

    let list = |output: Output| -> Vec<Value> {
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let endpoints = list(herald(&app, &["webhooks", "list"], &[]).await);
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[0]["id"], id.as_str());
    assert_eq!(
        endpoints[0]["events"],
        json!(["user.created", "user.deleted"])
    );
    assert_eq!(endpoints[0]["enabled"], true);
    let listed = stdout(&herald(&app, &["webhooks", "list"], &[]).await);
    assert!(!listed.contains(&given[10..]), "secrets are masked");
    assert!(!listed.contains(&generated[20..]), "secrets are masked");

    assert!(
        herald(&app, &["webhooks", "disable", &id], &[])
            .await
            .status
            .success()
    );
    let endpoints = list(herald(&app, &["webhooks", "list"], &[]).await);
    assert_eq!(endpoints[0]["enabled"], false);
    assert_eq!(endpoints[0]["disabled_reason"], "disabled by an operator");
    assert!(
        herald(&app, &["webhooks", "enable", &id], &[])
            .await
            .status
            .success()
    );
    assert_eq!(
        list(herald(&app, &["webhooks", "list"], &[]).await)[0]["enabled"],
        true
    );

    assert!(
        herald(&app, &["webhooks", "remove", &id], &[])
            .await
            .status
            .success()
    );
    assert_eq!(
        list(herald(&app, &["webhooks", "list"], &[]).await).len(),
        1
    );
    let again = herald(&app, &["webhooks", "remove", &id], &[]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no webhook endpoint"));
}
