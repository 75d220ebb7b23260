//! `/v1/emails` and its resend, and the `herald emails` / `herald events`
//! commands: a failed invite sent again carries a new link and the old one
//! stops working; an accepted invite is not sent again; a reset sent again
//! has a fresh token and the older one stops working.

use crate::helpers::{TestApp, herald_bin, wait_until};
use crate::smtp_sink::Reply;
use base64::Engine as _;
use serde_json::{Value, json};
use std::process::Output;

/// A token as an upstream would give it (43 characters, base64url).
fn given_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> String {
    json_of(app, &format!("/v1/emails/{id}")).await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_status(app: &TestApp, id: &str, status: &str) {
    wait_until(&format!("email {id} {status}"), || async {
        status_of(app, id).await == status
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_failed_invite_sends_a_new_link_and_the_old_token_is_refused() {
    let app = TestApp::spawn().await;
    app.smtp.script(&[Reply::Code(550)]);
    let old = given_token();
    app.publish(
        "invite.created",
        json!({"id": "inv-ada", "email": "ada@example.com", "token": old}),
    )
    .await;
    wait_until("the invite email failed", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'failed'")
            .await
            == 1
    })
    .await;
    let failed = json_of(&app, "/v1/emails?recipient=Ada@example.com&status=failed").await;
    assert_eq!(failed["count"], 1);
    let email = &failed["emails"][0];
    assert_eq!(email["template"], "invite");
    let id = email["id"].as_str().unwrap().to_owned();
    let shown = json_of(&app, &format!("/v1/emails/{id}")).await;
    assert_eq!(shown["attempts"][0]["smtp_code"], 550);
    assert_eq!(shown["attempts"][0]["outcome"], "permanent");
    let valid = app
        .post("/v1/invites/validate", json!({ "token": old }))
        .await;
    assert_eq!(valid.status(), 200, "the old link worked before the resend");

    let response = app
        .post(&format!("/v1/emails/{id}/resend"), json!(null))
        .await;
    assert_eq!(response.status(), 202);
    let text = response.text().await.unwrap();
    let resent: Value = serde_json::from_str(&text).unwrap();
    let new_id = resent["email"]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id);
    assert_eq!(resent["email"]["template"], "invite");
    assert_eq!(resent["email"]["recipient"], "ada@example.com");
    assert!(
        resent["email"]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("resend-")
    );

    let (to, new) = app.next_token().await;
    assert_eq!(to, "ada@example.com");
    assert_ne!(new, old);
    assert!(!text.contains(&new), "the answer holds no token");
    wait_status(&app, &new_id, "sent").await;
    let refused = app
        .post("/v1/invites/validate", json!({ "token": old }))
        .await;
    assert_eq!(refused.status(), 404, "the old link stops working");
    let valid = app
        .post("/v1/invites/validate", json!({ "token": new }))
        .await;
    assert_eq!(valid.status(), 200);
    assert_eq!(
        status_of(&app, &id).await,
        "failed",
        "the original stays as it ended"
    );

    // The resend is an event of its own in the log, found by address.
    let events = json_of(&app, "/v1/events?email=ada@example.com").await;
    assert_eq!(events["count"], 2);
    assert_eq!(events["events"][0]["type"], "invite.resent");
    let event_id = resent["email"]["event_id"].as_str().unwrap();
    let log = json_of(&app, &format!("/v1/events/{event_id}")).await;
    assert_eq!(log["emails"][0]["id"], new_id.as_str());

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"herald_email_resends_total{template="invite"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_an_accepted_invite_answers_409() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv-bo", "email": "bo@example.com"}),
    )
    .await;
    let (_, token) = app.next_token().await;
    let accepted = app
        .post("/v1/invites/accept", json!({ "token": token }))
        .await;
    assert_eq!(accepted.status(), 200);
    let list = json_of(&app, "/v1/emails?template=invite").await;
    let id = list["emails"][0]["id"].as_str().unwrap().to_owned();

    let response = app
        .post(&format!("/v1/emails/{id}/resend"), json!(null))
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cannot_resend");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("accepted"), "{message}");
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox").await,
        1,
        "nothing queued"
    );

    let unknown = app
        .post(
            "/v1/emails/00000000-0000-0000-0000-000000000000/resend",
            json!(null),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(app.get("/v1/emails/not-a-uuid").await.status(), 404);

    // An email still pending is not resent: the new token would kill its link.
    // (The server keeps it waiting: every DATA goes unanswered until the timeout.)
    app.smtp.script(&[Reply::Hang; 4]);
    app.publish("user.password_reset", json!({"email": "bo@example.com"}))
        .await;
    let pending = wait_pending(&app).await;
    let response = app
        .post(&format!("/v1/emails/{pending}/resend"), json!(null))
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pending")
    );
}

async fn wait_pending(app: &TestApp) -> String {
    wait_until("a pending email", || async {
        json_of(app, "/v1/emails?status=pending").await["count"] == 1
    })
    .await;
    let page = json_of(app, "/v1/emails?status=pending").await;
    page["emails"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_reset_mints_a_fresh_token_and_the_older_one_stops_working() {
    let app = TestApp::spawn().await;
    app.publish("user.password_reset", json!({"email": "cy@example.com"}))
        .await;
    let (_, old) = app.next_token().await;
    let list = json_of(&app, "/v1/emails?recipient=cy@example.com").await;
    let id = list["emails"][0]["id"].as_str().unwrap().to_owned();
    let response = app
        .post(&format!("/v1/emails/{id}/resend"), json!(null))
        .await;
    assert_eq!(response.status(), 202);
    let (_, new) = app.next_token().await;
    assert_ne!(new, old);
    let app = &app;
    let consume = |token: String| async move {
        app.post("/v1/password-resets/consume", json!({ "token": token }))
            .await
            .status()
    };
    assert_eq!(consume(old).await, 404);
    assert_eq!(consume(new).await, 200);
}

fn herald(app: &TestApp, args: &[&str]) -> Output {
    let output = herald_bin().args(args).envs(app.env()).output().unwrap();
    assert!(
        output.status.success(),
        "herald {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_and_resends_emails_and_shows_an_events_log() {
    let app = TestApp::spawn().await;
    let event = app
        .publish(
            "user.created",
            json!({"id": "u-di", "email": "di@example.com", "first_name": "Di"}),
        )
        .await;
    app.smtp.next_email().await;
    app.wait_emails_final().await;

    let listed = herald(&app, &["emails", "list", "--recipient", "di@example.com"]);
    let line = String::from_utf8(listed.stdout).unwrap();
    let email: Value = serde_json::from_str(line.trim()).unwrap();
    let id = email["id"].as_str().unwrap();
    assert_eq!(email["status"], "sent");

    let shown = stdout_json(&herald(&app, &["emails", "show", id]));
    assert_eq!(shown["template"], "welcome");
    assert_eq!(shown["attempts"][0]["smtp_code"], 250);

    let resent = stdout_json(&herald(&app, &["emails", "resend", id]));
    assert_ne!(resent["id"], id);
    assert_eq!(resent["template"], "welcome");
    let again = app.smtp.next_email().await;
    assert_eq!(again.rcpt_to, ["di@example.com"]);

    let log = stdout_json(&herald(&app, &["events", "show", &event]));
    assert_eq!(log["event"]["type"], "user.created");
    assert_eq!(log["emails"][0]["id"], id);
    assert_eq!(log["emails"][0]["attempts"][0]["outcome"], "sent");

    let missing = herald_bin()
        .args(["events", "show", "no-such-event"])
        .envs(app.env())
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

/// PostgreSQL refuses a text holding NUL; a filter holding one matches
/// nothing, and says so, instead of failing as if the database were down
/// (found by schemathesis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_holding_nul_matches_nothing() {
    let app = TestApp::spawn().await;
    app.publish(
        "user.created",
        json!({"id": "usr_n", "email": "n@example.com"}),
    )
    .await;
    app.wait_processed(1).await;
    for path in [
        "/v1/emails?recipient=n%00@example.com",
        "/v1/emails?status=sent&recipient=%C3%B8%00k",
        "/v1/events?email=n%00@example.com",
        "/v1/events?type=user.created%00",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["count"], 0, "{path}: {body}");
    }
    assert_eq!(app.get("/v1/events/evt%00x").await.status(), 404);
    // Without the NUL, the same filter finds the email.
    let body = json_of(&app, "/v1/emails?recipient=n@example.com").await;
    assert_eq!(body["count"], 1, "{body}");
}
