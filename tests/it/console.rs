//! `/console` over HTTP: sign-in and sign-out, the cookie's flags, forged
//! CSRF refused, every page's content for a known set of events, and a
//! `<script>` from an event rendered inert.

use crate::helpers::{API_TOKEN, TestApp, wait_until};
use crate::receiver::{Receiver, Reply};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use uuid::Uuid;

/// A token inside a dead letter: the console must never show it.
pub const DEAD_LETTER_TOKEN: &str = "ZGVhZC1sZXR0ZXItdG9rZW4tZm9yLXRoZS1jb25zb2xlLXRlc3QhIQ";
pub const SCRIPT: &str = "<script>alert(1)</script>";

/// A worker that delivers webhooks to receivers on loopback; `tune`
/// changes its settings first.
pub async fn spawn(tune: impl FnOnce(&mut herald::settings::Settings)) -> TestApp {
    let mut app = TestApp::spawn_with(crate::helpers::Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.targets.webhook_allow_private = true;
    tune(&mut app.worker_settings);
    app.start_worker();
    app
}

/// An operator's browser without a browser: the session cookie, forms.
pub struct Console<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookie: String,
}

impl<'a> Console<'a> {
    pub async fn sign_in(app: &'a TestApp) -> Self {
        let client = no_redirects();
        let response = sign_in_with(app, &client, API_TOKEN).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = cookie_of(&response).expect("a session cookie");
        Self {
            app,
            client,
            cookie,
        }
    }

    /// A GET, its answer unread (redirects are not followed).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// A page that must answer 200.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        post_form(
            &self.client,
            &self.app.url(path),
            Some(&self.cookie),
            fields,
        )
        .await
    }

    /// The CSRF token the console put in its forms.
    pub async fn csrf(&self) -> String {
        csrf_in(&self.page("/console").await)
    }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn post_form(
    client: &reqwest::Client,
    url: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    let mut request = client
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.join("&"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

async fn sign_in_with(app: &TestApp, client: &reqwest::Client, token: &str) -> reqwest::Response {
    post_form(
        client,
        &app.url("/console/sign-in"),
        None,
        &[("token", token)],
    )
    .await
}

/// `name=value` of the console's Set-Cookie, as a Cookie header sends it.
fn cookie_of(response: &reqwest::Response) -> Option<String> {
    let set = response.headers().get(SET_COOKIE)?.to_str().ok()?;
    Some(set.split(';').next()?.to_owned())
}

pub fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a CSRF field") + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// The known set: an invite whose first name is a script, a user whose
/// event id is one, a healthy endpoint and one that answers 410 Gone, and a
/// dead letter (a resend for an invite not there yet) carrying a token.
pub struct Seeded {
    pub invite_event: String,
    pub healthy: Uuid,
    pub gone: Uuid,
    pub receivers: (Receiver, Receiver),
}

pub async fn seed(app: &TestApp) -> Seeded {
    let ok = Receiver::always(Reply::Status(200)).await;
    let gone_receiver = Receiver::always(Reply::Status(410)).await;
    let (healthy, _) = app.register(&ok.url(), &[]).await;
    let (gone, _) = app.register(&gone_receiver.url(), &["user.created"]).await;
    let invite_event = app
        .publish(
            "invite.created",
            json!({"id": "inv_ada", "email": "ada@example.com", "first_name": SCRIPT}),
        )
        .await;
    app.publish_with_id(
        "user.created",
        SCRIPT,
        json!({"id": "u_grace", "email": "grace@example.com", "first_name": "Grace"}),
    )
    .await;
    app.publish_with_id(
        "invite.resent",
        "evt-early-resend",
        json!({"id": "inv_late", "token": DEAD_LETTER_TOKEN, "note": SCRIPT}),
    )
    .await;
    app.wait_processed(2).await;
    let dead_letters = app.settings.broker.dead_letter_name();
    wait_until("the dead letter", || async {
        app.queue_len(&dead_letters).await == 1
    })
    .await;
    app.wait_emails_final().await;
    ok.wait_for(2).await;
    wait_until("the 410 endpoint disabled", || async {
        app.count("SELECT count(*) FROM webhook_endpoints WHERE NOT enabled")
            .await
            == 1
    })
    .await;
    wait_until("deliveries final", || async {
        app.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await
            == 0
    })
    .await;
    Seeded {
        invite_event,
        healthy,
        gone,
        receivers: (ok, gone_receiver),
    }
}

/// No page may carry the script as markup, the API token, or the token.
pub fn assert_inert(page: &str) {
    assert!(!page.contains("<script"), "raw script in: {page}");
    assert!(!page.contains(API_TOKEN), "API token rendered");
    assert!(!page.contains(DEAD_LETTER_TOKEN), "token rendered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_gives_a_strict_cookie_and_sign_out_ends_the_session() {
    let app = spawn(|_| {}).await;
    let client = no_redirects();
    let response = client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/console/sign-in");

    let wrong = sign_in_with(&app, &client, "not-the-token-at-all-but-long-enough").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    assert!(wrong.text().await.unwrap().contains("wrong token"));

    let right = sign_in_with(&app, &client, API_TOKEN).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()[LOCATION], "/console");
    let set = right.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(set.contains(flag), "{flag} missing from {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP from no proxy: {set}");
    assert!(
        !set.contains(API_TOKEN),
        "the cookie holds the token: {set}"
    );
    let cookie = cookie_of(&right).unwrap();

    let overview = client
        .get(app.url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), StatusCode::OK);
    let csp = overview.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = overview.text().await.unwrap();
    assert!(html.contains("<h1>Overview</h1>"), "{html}");

    // An altered cookie is no session.
    let forged = format!("{}x", cookie);
    let response = client
        .get(app.url("/console"))
        .header(COOKIE, forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let out = post_form(
        &client,
        &app.url("/console/sign-out"),
        Some(&cookie),
        &[("csrf", &csrf_in(&html))],
    )
    .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // The signed-out cookie, replayed, no longer opens the console.
    let response = client
        .get(app.url("/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_is_secure_behind_a_trusted_tls_proxy() {
    let app = spawn(|s| {
        s.trusted_proxies = herald::settings::TrustedProxies(vec!["127.0.0.0/8".parse().unwrap()])
    })
    .await;
    let response = no_redirects()
        .post(app.url("/console/sign-in"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(format!("token={API_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tokens_are_throttled() {
    let app = spawn(|_| {}).await;
    let client = no_redirects();
    for _ in 0..20 {
        let r = sign_in_with(&app, &client, "a-wrong-token-guessed-by-someone-else").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = sign_in_with(&app, &client, API_TOKEN).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get(SET_COOKIE).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_csrf_token_is_refused() {
    let app = spawn(|_| {}).await;
    let ok = Receiver::always(Reply::Status(200)).await;
    let (id, _) = app.register(&ok.url(), &[]).await;
    let console = Console::sign_in(&app).await;
    let other = Console::sign_in(&app).await;
    let path = format!("/console/endpoints/{id}/disable");
    let stolen = other.csrf().await;
    assert_eq!(
        console.post(&path, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    for forged in ["", "forged", stolen.as_str()] {
        let r = console.post(&path, &[("csrf", forged)]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{forged}");
    }
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(enabled, "a refused form changed nothing");
    // Without a session the form is sent to sign in, and changes nothing.
    let r = post_form(&no_redirects(), &app.url(&path), None, &[("csrf", "x")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let r = console
        .post(&path, &[("csrf", &console.csrf().await)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let enabled: bool = sqlx::query_scalar("SELECT enabled FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!enabled);
}
