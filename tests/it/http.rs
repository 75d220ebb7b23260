//! The HTTP API against a real server on port 0 and a real database.

use crate::helpers::{API_TOKEN, Options, TestApp, wait_until};
use serde_json::{Value, json};

/// Asserts the contract's error shape: this status, this code, a message.
async fn expect_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    let (s, body) = status_and_body(r).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
    body
}

async fn status_and_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Publishes an invite and returns the token from its email.
async fn invite(app: &TestApp, id: &str) -> String {
    app.publish(
        "invite.created",
        json!({"id": id, "email": format!("{id}@example.com"), "role": "developer",
                                          "metadata": {"team": "core"}}),
    )
    .await;
    app.next_token().await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_auth() {
    let app = TestApp::spawn_with(Options {
        proxy_amqp: true,
        ..Default::default()
    })
    .await;
    let c = &app.client;
    wait_until("HTTP up", || async {
        c.get(app.url("/healthz")).send().await.is_ok()
    })
    .await;
    let readyz =
        || async { status_and_body(c.get(app.url("/readyz")).send().await.unwrap()).await };
    wait_until("the consumer connected", || async {
        readyz().await.0 == 200
    })
    .await;
    let (s, body) = readyz().await;
    assert_eq!(
        (
            s,
            &body["checks"]["postgresql"]["status"],
            &body["checks"]["rabbitmq"]["status"]
        ),
        (200, &json!("ok"), &json!("ok"))
    );
    app.amqp_proxy.as_ref().unwrap().cut();
    // The consumer's own session reports the loss; no probe connects.
    wait_until("the consumer's session lost", || async {
        readyz().await.0 == 503
    })
    .await;
    let (_, body) = readyz().await;
    assert_eq!(body["checks"]["rabbitmq"]["status"], "down");
    assert_eq!(body["checks"]["postgresql"]["status"], "ok");
    app.amqp_proxy.as_ref().unwrap().restore();

    expect_error(
        c.get(app.url("/v1/invites")).send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let r = c
        .get(app.url("/v1/invites"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(app.get("/v1/invites").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_configured_v1_answers_503() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.api_token = None;
    app.start_worker();
    let (s, body) = status_and_body(app.get("/v1/invites").await).await;
    assert_eq!(s, 503);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HERALD_API_TOKEN")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_accept_and_the_accepted_event() {
    let app = TestApp::spawn().await;
    let token = invite(&app, "inv_a").await;
    let (s, body) = status_and_body(
        app.post("/v1/invites/validate", json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(s, 200);
    let inv = &body["invite"];
    assert_eq!(
        (
            inv["id"].as_str(),
            inv["email"].as_str(),
            inv["role"].as_str(),
            inv["status"].as_str()
        ),
        (
            Some("inv_a"),
            Some("inv_a@example.com"),
            Some("developer"),
            Some("pending")
        )
    );
    assert_eq!(inv["metadata"], json!({"team": "core"}));
    assert!(inv["expires_at"].as_str().is_some());

    let (s, body) = status_and_body(
        app.post("/v1/invites/accept", json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (s, body["invite"]["status"].as_str()),
        (200, Some("accepted"))
    );
    wait_until("invite.accepted came back through the exchange", || async {
        app.count("SELECT count(*) FROM processed_events WHERE event_type = 'invite.accepted'")
            .await
            == 1
    })
    .await;
    expect_error(
        app.post("/v1/invites/accept", json!({"token": token}))
            .await,
        409,
        "already_accepted",
    )
    .await;
    assert_eq!(
        app.post("/v1/invites/validate", json!({"token": token}))
            .await
            .status(),
        409
    );
    expect_error(
        app.post("/v1/invites/validate", json!({"token": "x".repeat(43)}))
            .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_accepts_make_exactly_one_200() {
    let app = TestApp::spawn().await;
    let token = invite(&app, "inv_c").await;
    let (a, b) = tokio::join!(
        app.post("/v1/invites/accept", json!({"token": token})),
        app.post("/v1/invites/accept", json!({"token": token})),
    );
    let mut codes = [a.status().as_u16(), b.status().as_u16()];
    codes.sort();
    assert_eq!(codes, [200, 409]);
    wait_until("one invite.accepted", || async {
        app.count("SELECT count(*) FROM processed_events WHERE event_type = 'invite.accepted'")
            .await
            == 1
    })
    .await;
    assert_eq!(app.count("SELECT count(*) FROM event_outbox").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_revoked_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let old = invite(&app, "inv_r").await;
    app.publish("invite.resent", json!({"id": "inv_r"})).await;
    let new = app.next_token().await.1;
    assert_eq!(
        app.post("/v1/invites/validate", json!({"token": old}))
            .await
            .status(),
        404,
        "rotated"
    );
    assert_eq!(
        app.post("/v1/invites/validate", json!({"token": new}))
            .await
            .status(),
        200
    );

    let (s, body) = status_and_body(
        app.client
            .delete(app.url("/v1/invites/inv_r"))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"id": "inv_r", "object": "invite", "deleted": true})
        )
    );
    assert_eq!(
        app.post("/v1/invites/validate", json!({"token": new}))
            .await
            .status(),
        404,
        "revoked"
    );
    let r = app
        .client
        .delete(app.url("/v1/invites/nope"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let token = invite(&app, "inv_x").await;
    sqlx::query("UPDATE invites SET expires_at = now() - interval '1 minute' WHERE id = 'inv_x'")
        .execute(&app.pool)
        .await
        .unwrap();
    expect_error(
        app.post("/v1/invites/accept", json!({"token": token}))
            .await,
        410,
        "expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_list_with_filters_and_paging() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.publish(
            "invite.created",
            json!({"id": format!("inv_{i}"), "email": format!("l{i}@example.com")}),
        )
        .await;
    }
    app.wait_processed(5).await;
    sqlx::query("UPDATE invites SET status = 'accepted' WHERE id = 'inv_0'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE invites SET expires_at = now() - interval '1 s' WHERE id = 'inv_1'")
        .execute(&app.pool)
        .await
        .unwrap();

    let (s, body) =
        status_and_body(app.get("/v1/invites?status=pending&limit=2&offset=1").await).await;
    assert_eq!(s, 200);
    assert_eq!(
        (
            body["count"].as_i64(),
            body["limit"].as_i64(),
            body["offset"].as_i64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(body["invites"].as_array().unwrap().len(), 2);
    assert!(
        body["invites"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "pending")
    );
    let (_, body) = status_and_body(app.get("/v1/invites?status=expired").await).await;
    assert_eq!(body["invites"][0]["id"], "inv_1");
    let (_, body) = status_and_body(app.get("/v1/invites").await).await;
    assert_eq!(
        (body["count"].as_i64(), body["limit"].as_i64()),
        (Some(5), Some(20))
    );
    for bad in ["?limit=500", "?status=lost", "?offset=-1", "?colour=red"] {
        let (s, body) = status_and_body(app.get(&format!("/v1/invites{bad}")).await).await;
        assert_eq!(s, 400, "{bad}");
        assert!(body["error"]["message"].as_str().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_tokens_are_consumed_once() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.password_reset",
        json!({"email": "p@example.com", "user_id": "usr_1"}),
    )
    .await;
    let token = app.next_token().await.1;
    let (s, body) = status_and_body(
        app.post("/v1/password-resets/consume", json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (s, body),
        (200, json!({"email": "p@example.com", "user_id": "usr_1"}))
    );
    assert_eq!(
        app.post("/v1/password-resets/consume", json!({"token": token}))
            .await
            .status(),
        404,
        "used"
    );

    app.publish("user.password_reset", json!({"email": "q@example.com"}))
        .await;
    let first = app.next_token().await.1;
    app.publish("user.password_reset", json!({"email": "q@example.com"}))
        .await;
    let second = app.next_token().await.1;
    assert_eq!(
        app.post("/v1/password-resets/consume", json!({"token": first}))
            .await
            .status(),
        404,
        "replaced"
    );
    sqlx::query("UPDATE password_reset_tokens SET expires_at = now() - interval '1 s' WHERE used_at IS NULL AND invalidated_at IS NULL")
        .execute(&app.pool).await.unwrap();
    expect_error(
        app.post("/v1/password-resets/consume", json!({"token": second}))
            .await,
        410,
        "expired",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_4xx() {
    let app = TestApp::spawn().await;
    let post_raw = |body: &'static str, ct: &'static str| {
        app.client
            .post(app.url("/v1/invites/validate"))
            .bearer_auth(API_TOKEN)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    for (r, status, code) in [
        (
            post_raw(r#"{"token":"t","extra":1}"#, "application/json")
                .await
                .unwrap(),
            422,
            "invalid_body",
        ),
        (
            post_raw(r#"{"token":5}"#, "application/json")
                .await
                .unwrap(),
            422,
            "invalid_body",
        ),
        (
            post_raw(r#"{"token":"#, "application/json").await.unwrap(),
            400,
            "malformed_body",
        ),
        (
            post_raw(r#"{"token":"t"}"#, "text/plain").await.unwrap(),
            415,
            "unsupported_media_type",
        ),
        (
            app.post("/v1/invites/validate", json!({"token": "x".repeat(20_000)}))
                .await,
            413,
            "body_too_large",
        ),
    ] {
        expect_error(r, status, code).await;
    }
    let r = app
        .client
        .put(app.url("/v1/invites/validate"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_guessing_is_throttled() {
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let r = app
            .post(
                "/v1/password-resets/consume",
                json!({"token": format!("guess-{i:040}")}),
            )
            .await;
        assert_eq!(r.status(), 404);
    }
    expect_error(
        app.post(
            "/v1/invites/validate",
            json!({"token": "guess-again-0000000000"}),
        )
        .await,
        429,
        "too_many_attempts",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_and_openapi_lists_every_route() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "m@example.com"}),
    )
    .await;
    app.smtp.next_email().await;
    wait_until("email recorded as sent", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await
            == 1
    })
    .await;
    let text = app.metrics().await;
    let value = |prefix: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        value(r#"herald_events_total{type="user.created",outcome="processed"}"#) >= 1.0,
        "{text}"
    );
    assert!(value(r#"herald_emails_total{outcome="sent"}"#) >= 1.0);
    assert!(value("herald_event_to_email_seconds_count") >= 1.0);
    assert!(text.contains(r#"herald_dispatch_backlog{kind="email"}"#));

    let doc: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/invites/validate",
        "/v1/invites/accept",
        "/v1/invites",
        "/v1/invites/{id}",
        "/v1/password-resets/consume",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_are_managed_over_http_with_their_attempts() {
    let app = TestApp::spawn().await;
    expect_error(
        app.post(
            "/v1/webhook-endpoints",
            json!({"url": "http://127.0.0.1:9/hook"}),
        )
        .await,
        422,
        "invalid_endpoint",
    )
    .await;
    let (s, body) = status_and_body(
        app.post("/v1/webhook-endpoints", json!({"url": "ftp://x"}))
            .await,
    )
    .await;
    assert_eq!(s, 422, "{body}");
    let (s, _) = status_and_body(
        app.post(
            "/v1/webhook-endpoints",
            json!({"url": "https://a.example", "colour": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 422, "unknown field");

    let (s, created) = status_and_body(
        app.post(
            "/v1/webhook-endpoints",
            json!({"url": "https://hooks.example.com/in", "events": ["invite.created"]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();
    let (s, listed) = status_and_body(app.get("/v1/webhook-endpoints").await).await;
    assert_eq!(s, 200);
    assert_eq!(listed["endpoints"][0]["id"], id);
    assert_ne!(
        listed["endpoints"][0]["secret"], secret,
        "the secret is shown once only"
    );
    let (s, got) = status_and_body(app.get(&format!("/v1/webhook-endpoints/{id}")).await).await;
    assert_eq!((s, got["events"].clone()), (200, json!(["invite.created"])));
    let (s, attempts) = status_and_body(
        app.get(&format!("/v1/webhook-endpoints/{id}/attempts"))
            .await,
    )
    .await;
    assert_eq!((s, attempts), (200, json!({"attempts": []})));
    assert_eq!(
        app.get("/v1/webhook-endpoints/not-a-uuid").await.status(),
        404
    );
    let r = app
        .client
        .delete(app.url(&format!("/v1/webhook-endpoints/{id}")))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    let (s, body) = status_and_body(r).await;
    assert_eq!((s, body["deleted"].as_bool()), (200, Some(true)));
    assert_eq!(
        app.get(&format!("/v1/webhook-endpoints/{id}"))
            .await
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_and_webhook_metrics_follow_real_deliveries() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    app.start_worker();
    let receiver = crate::receiver::Receiver::always(crate::receiver::Reply::Status(204)).await;
    let (s, created) = status_and_body(
        app.post("/v1/webhook-endpoints", json!({"url": receiver.url()}))
            .await,
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    app.publish("user.updated", json!({"id": "u_m"})).await;
    let path = format!("/v1/webhook-endpoints/{id}/attempts");
    wait_until("an attempt recorded", || async {
        app.get(&path).await.json::<Value>().await.unwrap()["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    })
    .await;
    let (_, body) = status_and_body(app.get(&path).await).await;
    let attempt = &body["attempts"][0];
    assert_eq!(
        (
            attempt["status_code"].as_i64(),
            attempt["outcome"].as_str(),
            attempt["event_type"].as_str()
        ),
        (Some(204), Some("delivered"), Some("user.updated"))
    );
    assert!(attempt["latency_ms"].as_i64().is_some());
    let text = app.metrics().await;
    assert!(
        text.contains(r#"herald_webhook_attempts_total{outcome="delivered",status_class="2xx"}"#),
        "{text}"
    );
    assert!(text.contains("herald_event_to_webhook_seconds_count"));
    assert!(text.contains(r#"herald_dispatch_backlog{kind="webhook"}"#));
}
