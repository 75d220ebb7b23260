//! Endpoint secrets: sealed at rest, never shown after creation, rotated
//! with a grace period during which both signatures go out; and webhook
//! bodies without any secret-like key.

use crate::helpers::{Options, TestApp, herald_bin};
use crate::receiver::{Received, Receiver};
use crate::secrets::assert_no_plaintext;
use serde_json::{Value, json};
use std::process::Output;

async fn app() -> TestApp {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    app
}

async fn herald(app: &TestApp, args: &[&str]) -> Output {
    let mut cmd = herald_bin();
    cmd.args(args)
        .envs(app.env())
        .env("HERALD_WEBHOOK_ALLOW_PRIVATE", "true");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn verifies(secret: &str, request: &Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(request.body.as_bytes(), &request.headers)
        .is_ok()
}

fn signatures(request: &Received) -> usize {
    request.headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .filter(|s| s.starts_with("v1,"))
        .count()
}

/// Creates an endpoint through the API; returns its id and secret.
async fn create(app: &TestApp, url: &str) -> (String, String) {
    let response = app.post("/v1/webhook-endpoints", json!({"url": url})).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_like_keys_never_reach_a_webhook_body() {
    let mut app = app().await;
    app.start_worker();
    let receiver = Receiver::start(vec![]).await;
    let (_, secret) = create(&app, &receiver.url()).await;
    let data = json!({
        "id": "usr_1",
        "token": "t-1", "reset_token": "t-2", "access_token": "t-3", "accessToken": "t-4",
        "password": "t-5", "secret": "t-6", "PASSWORD": "t-7",
        "profile": {"refreshToken": "t-8", "tokenizer": "kept",
                    "keys": [{"api_token": "t-9", "Secret": "t-10", "name": "kept"}]},
        "token_type": "kept",
    });
    app.publish("user.updated", data).await;
    let received = receiver.wait_for(1).await;
    assert!(verifies(&secret, &received[0]));
    let body: Value = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        body["data"],
        json!({"id": "usr_1", "token_type": "kept",
               "profile": {"tokenizer": "kept", "keys": [{"name": "kept"}]}})
    );
    for n in 1..=10 {
        assert!(!received[0].body.contains(&format!("\"t-{n}\"")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_secrets_are_sealed_at_rest_and_never_shown_again() {
    let mut app = app().await;
    let (old, new, cli) = (
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
        Receiver::start(vec![]).await,
    );
    // A row as an earlier Herald stored it: the secret in clear.
    let legacy = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let legacy_id = uuid::Uuid::now_v7();
    sqlx::query("INSERT INTO webhook_endpoints (id, url, secret) VALUES ($1, $2, $3)")
        .bind(legacy_id)
        .bind(old.url())
        .bind(legacy)
        .execute(&app.pool)
        .await
        .unwrap();
    let added = herald(&app, &["webhooks", "add", &cli.url()]).await;
    assert!(added.status.success(), "{added:?}");
    let cli_secret = String::from_utf8_lossy(&added.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("secret: ").map(str::to_owned))
        .unwrap();
    // Start-up seals what an earlier Herald left in clear.
    app.start_worker();
    let (id, secret) = create(&app, &new.url()).await;
    let sealed: i64 = app
        .count("SELECT count(*) FROM webhook_endpoints WHERE secret IS NULL AND secret_sealed IS NOT NULL")
        .await;
    assert_eq!(sealed, 3);

    app.publish("user.updated", json!({"id": "usr_1"})).await;
    assert!(verifies(legacy, &old.wait_for(1).await[0]));
    assert!(verifies(&secret, &new.wait_for(1).await[0]));
    assert!(verifies(&cli_secret, &cli.wait_for(1).await[0]));

    let secrets = [legacy.to_owned(), secret.clone(), cli_secret.clone()];
    // Also without the prefix, as a receiver or a leak would spell it.
    let mut needles: Vec<String> = secrets.to_vec();
    needles.extend(secrets.iter().map(|s| s["whsec_".len()..].to_owned()));
    assert_no_plaintext(&app, &needles).await;

    let listed = app.get("/v1/webhook-endpoints").await.text().await.unwrap();
    let one = app
        .get(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .text()
        .await
        .unwrap();
    let cli_list = herald(&app, &["webhooks", "list"]).await;
    let cli_list = String::from_utf8_lossy(&cli_list.stdout).into_owned();
    assert!(listed.contains(&id) && cli_list.contains(&id));
    for text in [&listed, &one, &cli_list] {
        assert!(
            !text.contains("\"secret\""),
            "a secret field is shown: {text}"
        );
        for s in &needles {
            assert!(!text.contains(s.as_str()), "a secret is shown: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_until_the_grace_ends() {
    let mut app = app().await;
    app.start_worker();
    let receiver = Receiver::start(vec![]).await;
    let (id, first) = create(&app, &receiver.url()).await;

    let rotated = app
        .post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            json!({"grace": "1h"}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert!(rotated["previous_secret_until"].is_string());

    app.publish("user.updated", json!({"id": "usr_1"})).await;
    let during = receiver.wait_for(1).await[0].clone();
    assert_eq!(signatures(&during), 2);
    assert!(
        verifies(&first, &during),
        "the old secret verifies during the grace period"
    );
    assert!(verifies(&second, &during), "the new secret verifies");

    // The grace period ends.
    sqlx::query("UPDATE webhook_endpoints SET previous_secret_until = now()")
        .execute(&app.pool)
        .await
        .unwrap();
    app.publish("user.updated", json!({"id": "usr_2"})).await;
    let after = receiver.wait_for(2).await[1].clone();
    assert_eq!(signatures(&after), 1);
    assert!(verifies(&second, &after));
    assert!(
        !verifies(&first, &after),
        "the old secret no longer verifies"
    );

    // The CLI, without a grace period: only the newest secret signs at once.
    let out = herald(&app, &["webhooks", "rotate-secret", &id, "--grace", "0s"]).await;
    assert!(out.status.success(), "{out:?}");
    let third = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("secret: ").map(str::to_owned))
        .unwrap();
    app.publish("user.updated", json!({"id": "usr_3"})).await;
    let last = receiver.wait_for(3).await[2].clone();
    assert!(verifies(&third, &last));
    assert!(!verifies(&second, &last));
    assert_no_plaintext(&app, &[first, second, third]).await;

    // No body at all: the default grace of a day.
    let response = app
        .client
        .post(app.url(&format!("/v1/webhook-endpoints/{id}/rotate-secret")))
        .bearer_auth(crate::helpers::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let until =
        chrono::DateTime::parse_from_rfc3339(body["previous_secret_until"].as_str().unwrap())
            .unwrap();
    let hours =
        (until.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.0).contains(&hours), "{hours}");

    let doc: Value = app.get("/v1/openapi.json").await.json().await.unwrap();
    let route = &doc["paths"]["/v1/webhook-endpoints/{id}/rotate-secret"]["post"];
    assert!(route["responses"]["200"].is_object(), "{route}");
    assert_ne!(
        route["requestBody"]["required"], true,
        "the body is optional"
    );

    let unknown = app
        .post(
            &format!(
                "/v1/webhook-endpoints/{}/rotate-secret",
                uuid::Uuid::now_v7()
            ),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status(), 404);
}
