//! Emails out: well-formed MIME through a real SMTP exchange, retries,
//! leases, the rate limit, and no token left behind.

use crate::helpers::{Options, TestApp, herald_bin, sha256, wait_until};
use crate::smtp_sink::{Received, Reply};
use herald::settings::RateLimit;
use mail_parser::{Message, MessageParser, MimeHeaders};
use serde_json::json;
use std::time::Duration;

fn parse(r: &Received) -> Message<'_> {
    MessageParser::default().parse(&r.data).expect("valid MIME")
}

fn token_in(link_prefix: &str, text: &str) -> String {
    let start = text.find(link_prefix).expect("link in text") + link_prefix.len();
    text[start..]
        .split(|c: char| c == '&' || c.is_whitespace())
        .next()
        .unwrap()
        .to_owned()
}

async fn final_statuses(app: &TestApp, n: i64) {
    wait_until("every email final", || async {
        app.count("SELECT count(*) FROM email_outbox WHERE status <> 'pending'")
            .await
            == n
    })
    .await;
}

async fn attempts(app: &TestApp) -> Vec<(i32, String, Option<i32>)> {
    sqlx::query_as("SELECT attempt, outcome, smtp_code FROM email_attempts ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_arrives_well_formed_with_its_link() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_e", "email": "ada@example.com", "role": "admin",
                                          "first_name": "Ada", "invited_by": "Grace Hopper"}),
    )
    .await;
    let invite = app.smtp.next_email().await;
    app.publish(
        "user.password_reset",
        json!({"email": "bob+x@example.com", "first_name": "Bob"}),
    )
    .await;
    let reset = app.smtp.next_email().await;
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "cy@example.com", "first_name": "Cy"}),
    )
    .await;
    let welcome = app.smtp.next_email().await;

    for (r, to, subject) in [
        (
            &invite,
            "ada@example.com",
            "Grace Hopper invited you to join as admin",
        ),
        (&reset, "bob+x@example.com", "Reset your password"),
        (&welcome, "cy@example.com", "Welcome, Cy"),
    ] {
        assert_eq!(r.rcpt_to, [to]);
        let m = parse(r);
        assert_eq!(m.subject(), Some(subject));
        assert_eq!(
            m.from().unwrap().first().unwrap().address(),
            Some("no-reply@localhost")
        );
        assert_eq!(m.to().unwrap().first().unwrap().address(), Some(to));
        assert!(m.date().is_some() && m.message_id().unwrap().ends_with("@localhost"));
        let ct = m.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        assert_eq!((m.text_body_count(), m.html_body_count()), (1, 1));
        let raw = String::from_utf8_lossy(&r.data).to_ascii_lowercase();
        assert!(raw.contains("charset=utf-8"), "UTF-8 parts");
    }

    let text = parse(&invite).body_text(0).unwrap().into_owned();
    let token = token_in("https://admin.example.test/app/invite?token=", &text);
    let hash: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invites")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        sha256(&token),
        hash,
        "the emailed link carries the invite's token"
    );
    assert!(text.contains("expires in 7 days"));
    assert!(
        parse(&invite)
            .body_html(0)
            .unwrap()
            .contains(&format!("invite?token={token}"))
    );

    let text = parse(&reset).body_text(0).unwrap().into_owned();
    assert!(
        text.contains("&email=bob%2Bx%40example.com"),
        "email URL-encoded in the reset link"
    );
    let token = token_in(
        "https://admin.example.test/app/reset-password?token=",
        &text,
    );
    let hash: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(sha256(&token), hash);
    assert!(text.contains("expires in 60 minutes") && text.contains("did not ask"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locale_variant_is_used_and_missing_ones_fall_back() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_fr", "email": "fr@example.com", "locale": "fr-CA"}),
    )
    .await;
    let fr = app.smtp.next_email().await;
    assert_eq!(
        parse(&fr).subject(),
        Some("Vous êtes invité à rejoindre l'équipe"),
        "an invite without a role names none"
    );
    assert!(parse(&fr).body_text(0).unwrap().contains("Bonjour"));
    app.publish(
        "user.password_reset",
        json!({"email": "fr@example.com", "locale": "fr"}),
    )
    .await;
    let fallback = app.smtp.next_email().await;
    assert_eq!(parse(&fallback).subject(), Some("Reset your password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_add_no_header_and_arrive_escaped() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_h", "email": "victim@example.com", "role": "member",
        "invited_by": "Eve\r\nBcc: spy@evil.test", "first_name": "<script>alert(1)</script>"}),
    )
    .await;
    let r = app.smtp.next_email().await;
    assert_eq!(r.rcpt_to, ["victim@example.com"], "no extra recipient");
    let m = parse(&r);
    assert!(m.header_raw("Bcc").is_none(), "no Bcc header");
    assert_eq!(
        m.subject(),
        Some("Eve Bcc: spy@evil.test invited you to join as member")
    );
    let html = m.body_html(0).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
    assert!(
        m.body_text(0)
            .unwrap()
            .contains("Hi <script>alert(1)</script>,"),
        "text is not HTML-escaped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_retry_and_permanent_ones_fail_at_once() {
    let app = TestApp::spawn().await;
    app.smtp.script(&[Reply::Code(451), Reply::Code(451)]);
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "slow@example.com"}),
    )
    .await;
    app.smtp.next_email().await;
    final_statuses(&app, 1).await;
    let codes: Vec<_> = attempts(&app)
        .await
        .into_iter()
        .map(|(n, o, c)| (n, o, c.unwrap_or(0)))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "transient".into(), 451),
            (2, "transient".into(), 451),
            (3, "sent".into(), 250)
        ]
    );

    app.smtp.script(&[Reply::Code(550)]);
    app.publish(
        "user.created",
        json!({"id": "u2", "email": "gone@example.com"}),
    )
    .await;
    final_statuses(&app, 2).await;
    let status: String =
        sqlx::query_scalar("SELECT status FROM email_outbox WHERE recipient = 'gone@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    let last = attempts(&app).await.pop().unwrap();
    assert_eq!(
        last,
        (1, "permanent".into(), Some(550)),
        "failed on the first attempt, not retried"
    );
    assert!(app.smtp.drain().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_delays_but_loses_nothing() {
    let app = TestApp::spawn_with(Options {
        proxy_smtp: true,
        ..Default::default()
    })
    .await;
    let proxy = app.smtp_proxy.as_ref().unwrap();
    proxy.cut();
    for i in 0..5 {
        app.publish(
            "user.created",
            json!({"id": format!("u{i}"), "email": format!("u{i}@example.com")}),
        )
        .await;
    }
    wait_until("every email tried and refused at least twice", || async {
        app.count("SELECT count(*) FROM (SELECT outbox_id FROM email_attempts GROUP BY outbox_id HAVING count(*) >= 2) t").await == 5
    })
    .await;
    proxy.restore();
    let mut got: Vec<String> = Vec::new();
    for _ in 0..5 {
        got.extend(app.smtp.next_email().await.rcpt_to);
    }
    got.sort();
    assert_eq!(
        got,
        (0..5)
            .map(|i| format!("u{i}@example.com"))
            .collect::<Vec<_>>()
    );
    final_statuses(&app, 5).await;
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
            .await,
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_send_has_its_lease_reclaimed() {
    let mut app = TestApp::spawn().await;
    app.smtp.script(&[Reply::Hang]);
    let seen = app.smtp.data_seen.clone();
    let mid_send = seen.notified();
    app.publish(
        "user.created",
        json!({"id": "u1", "email": "lease@example.com"}),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(20), mid_send)
        .await
        .expect("the send started");
    app.kill_worker().await;
    app.start_worker();
    let r = app.smtp.next_email().await;
    assert_eq!(r.rcpt_to, ["lease@example.com"]);
    final_statuses(&app, 1).await;
    assert_eq!(
        attempts(&app).await,
        [(2, "sent".into(), Some(250))],
        "the killed attempt left no record; the second claim sent it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_recipient_limit_holds_and_is_recorded() {
    let mut app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    app.worker_settings.email_rate_limit = RateLimit {
        max: 2,
        per: Duration::from_secs(3600),
    };
    app.start_worker();
    for email in [
        "flood@example.com",
        "FLOOD@example.com",
        "flood@EXAMPLE.com",
        "flood@example.com",
        "other@example.com",
    ] {
        app.publish("user.password_reset", json!({"email": email}))
            .await;
    }
    final_statuses(&app, 5).await;
    let sent = app
        .count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
        .await;
    let dropped = app.count("SELECT count(*) FROM email_outbox WHERE status = 'dropped' AND lower(recipient) = 'flood@example.com'").await;
    assert_eq!((sent, dropped), (3, 2));
    assert_eq!(
        app.count("SELECT count(*) FROM email_attempts WHERE outcome = 'rate_limited'")
            .await,
        2
    );
    assert_eq!(app.smtp.drain().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_remains_in_the_database_after_delivery() {
    let app = TestApp::spawn().await;
    app.publish(
        "invite.created",
        json!({"id": "inv_t", "email": "t@example.com"}),
    )
    .await;
    app.publish("user.password_reset", json!({"email": "t@example.com"}))
        .await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let r = app.smtp.next_email().await;
        let text = parse(&r).body_text(0).unwrap().into_owned();
        tokens.push(token_in("?token=", &text));
    }
    final_statuses(&app, 2).await;
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox WHERE token_sealed IS NOT NULL")
            .await,
        0
    );
    crate::secrets::assert_no_plaintext(&app, &tokens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_template_is_caught_before_any_email() {
    let dir = std::env::temp_dir().join(format!("herald-templates-{}", uuid::Uuid::new_v4()));
    copy_dir(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/templates")),
        &dir,
    );
    let ok = herald_bin()
        .args(["templates", "check"])
        .env("HERALD_TEMPLATES_DIR", &dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    for (file, body) in [
        ("welcome/text.hbs", "Hi {{first_nmae}}"),
        ("invite/html.fr.hbs", "{{#if role}}unclosed"),
    ] {
        let path = dir.join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, body).unwrap();
        let check = herald_bin()
            .args(["templates", "check"])
            .env("HERALD_TEMPLATES_DIR", &dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&check.stderr);
        assert!(
            !check.status.success() && stderr.contains(file),
            "{file}: {stderr}"
        );
        let run = herald_bin()
            .arg("run")
            .env("HERALD_TEMPLATES_DIR", &dir)
            .env(
                "HERALD_SECRET_KEY",
                "l9jLqXMKnU5nGXwX/kkkd5Wd/fuz/llMGZkMQivIuWc=",
            )
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains(file),
            "run refuses to start: {stderr}"
        );
        std::fs::write(&path, original).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}
