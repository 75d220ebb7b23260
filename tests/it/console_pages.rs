//! Each console page's content for the known set of events
//! (`console::seed`), every one inert; Resend, Replay failed and the
//! dead-letter Replay through the console's forms.

use crate::console::{Console, DEAD_LETTER_TOKEN, assert_inert, seed, spawn};
use crate::helpers::wait_until;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_the_known_events_and_nothing_runs() {
    let app = spawn(|_| {}).await;
    let seeded = seed(&app).await;
    let console = Console::sign_in(&app).await;

    let overview = console.page("/console").await;
    assert_inert(&overview);
    assert!(
        overview.contains(r#"<dd id="emails-sent">2</dd>"#),
        "{overview}"
    );
    assert!(
        overview.contains(r#"<dd id="dead-letters-waiting">1</dd>"#),
        "{overview}"
    );
    assert!(
        overview.contains(r#"<dd id="webhooks-delivered">2</dd>"#),
        "{overview}"
    );
    assert!(
        overview.contains("<td>invite.created</td><td>email sent</td>"),
        "{overview}"
    );
    for service in ["PostgreSQL", "RabbitMQ", "SMTP relay"] {
        assert!(
            overview.contains(&format!("<td>{service}</td>")),
            "{service}"
        );
    }
    assert!(
        overview.contains("disabled: the endpoint answered 410 Gone"),
        "{overview}"
    );

    let endpoints = console.page("/console/endpoints").await;
    assert_inert(&endpoints);
    assert!(endpoints.contains(&seeded.receivers.0.url()));
    assert!(endpoints.contains("the endpoint answered 410 Gone"));
    assert!(endpoints.contains(&format!("/console/endpoints/{}/enable", seeded.gone)));
    assert!(endpoints.contains(&format!("/console/endpoints/{}/disable", seeded.healthy)));
    assert!(endpoints.contains("<td>410</td>"), "{endpoints}");

    let search = console.page("/console/search?q=ADA%40example.com").await;
    assert_inert(&search);
    assert!(search.contains(&seeded.invite_event), "{search}");
    assert!(
        search.contains("<td>ada@example.com</td><td>invite</td>"),
        "{search}"
    );

    // An event id goes straight to its delivery log.
    let r = console
        .get(&format!("/console/search?q={}", seeded.invite_event))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(to.starts_with("/console/events/"), "{to}");
    let log = console.page(&to).await;
    assert_inert(&log);
    assert!(log.contains("invite to ada@example.com"), "{log}");
    assert!(log.contains("<td>sent</td><td>250</td>"), "{log}");
    assert!(log.contains("<td>delivered</td><td>200</td>"), "{log}");
    assert!(log.contains("/resend"), "{log}");

    // The script as an event id: shown as text, linked encoded.
    let grace = console.page("/console/search?q=grace%40example.com").await;
    assert_inert(&grace);
    assert!(grace.contains(ESCAPED), "{grace}");
    assert!(grace.contains("/console/events/%3Cscript%3E"), "{grace}");
    let by_id = console
        .page("/console/events/%3Cscript%3Ealert%281%29%3C%2Fscript%3E")
        .await;
    assert_inert(&by_id);
    assert!(by_id.contains("<td>410</td>"), "{by_id}");

    let sent_invites = console
        .page("/console/emails?status=sent&template=invite")
        .await;
    assert_inert(&sent_invites);
    assert!(sent_invites.contains("<td>ada@example.com</td>"));
    assert!(!sent_invites.contains("<td>grace@example.com</td>"));
    let failed = console.page("/console/emails?status=failed").await;
    assert!(failed.contains("No emails match."));

    let dead = console.page("/console/dead-letters").await;
    assert_inert(&dead);
    assert!(dead.contains("unknown invite"), "{dead}");
    assert!(
        dead.contains("&quot;token&quot;: &quot;•••&quot;"),
        "{dead}"
    );
    assert!(dead.contains(ESCAPED), "{dead}");
    assert!(!dead.contains(&DEAD_LETTER_TOKEN[..20]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_replay_and_dead_letter_replay_act_through_the_forms() {
    let app = spawn(|_| {}).await;
    let seeded = seed(&app).await;
    let console = Console::sign_in(&app).await;
    let csrf = console.csrf().await;

    let log = console
        .page(&format!("/console/events/{}", seeded.invite_event))
        .await;
    let at = log.find("/console/emails/").unwrap();
    let resend = &log[at..at + log[at..].find('"').unwrap()];
    let r = console.post(resend, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        to.starts_with("/console/search?q=ada%40example%2Ecom"),
        "{to}"
    );
    // The resend is an event of its own (`resend-…`), recorded at once.
    app.wait_processed(3).await;
    app.wait_emails_final().await;
    let after = console.page(&to).await;
    assert!(after.contains("Email queued again."));
    assert_eq!(
        after
            .matches("<td>ada@example.com</td><td>invite</td>")
            .count(),
        2
    );
    assert_eq!(app.smtp.accepted(), 3, "the resent invite went out");

    // Replay failed: the 410 endpoint's failed delivery is queued again.
    let r = console
        .post(
            &format!("/console/endpoints/{}/enable", seeded.gone),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = console
        .post(
            &format!("/console/endpoints/{}/replay", seeded.gone),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    seeded.receivers.1.wait_for(2).await;

    // The dead letter's invite exists now: its replay is processed.
    app.publish(
        "invite.created",
        json!({"id": "inv_late", "email": "late@example.com"}),
    )
    .await;
    app.wait_processed(4).await;
    let r = console
        .post(
            "/console/dead-letters/replay",
            &[("csrf", &csrf), ("count", "one")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/console/dead-letters?done=dead-letter-replayed"
    );
    app.wait_processed(5).await;
    let dead = app.settings.broker.dead_letter_name();
    wait_until("no dead letter", || async {
        app.queue_len(&dead).await == 0
    })
    .await;
    let page = console
        .page("/console/dead-letters?done=dead-letter-replayed")
        .await;
    assert!(page.contains("Dead letter replayed."), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_invite_is_not_resent() {
    let app = spawn(|_| {}).await;
    let console = Console::sign_in(&app).await;
    let event = app
        .publish(
            "invite.created",
            json!({"id": "inv_done", "email": "done@example.com"}),
        )
        .await;
    let (_, token) = app.next_token().await;
    let accepted = app
        .post("/v1/invites/accept", json!({"token": token}))
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let log = console.page(&format!("/console/events/{event}")).await;
    assert!(!log.contains(&token), "the invite's token is never shown");
    let at = log.find("/console/emails/").unwrap();
    let resend = &log[at..at + log[at..].find('"').unwrap()];
    let r = console
        .post(resend, &[("csrf", &console.csrf().await)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("accepted"));
    assert_eq!(
        app.count("SELECT count(*) FROM email_outbox").await,
        1,
        "nothing queued"
    );
}
