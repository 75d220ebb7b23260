//! A window of events costs a fixed number of statements, whatever its size:
//! counted on the wire between Herald and PostgreSQL, not timed.

use crate::helpers::{Options, PG, TestApp};
use crate::pg_wire::StatementCounter;
use herald::events::{Context, Envelope, Event, Incoming, Outcome};
use herald::intake::batch::{self, Parsed};
use herald::webhooks::endpoints::{self, NewEndpoint};
use lapin::BasicProperties;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

/// `n` events of the set-based kinds, their ids, invite ids and addresses under `tag`.
fn window(tag: &str, n: usize) -> Vec<Parsed> {
    (0..n)
        .map(|i| {
            let (ty, data) = match i % 4 {
                0 => (
                    "invite.created",
                    json!({"id": format!("inv_{tag}_{i}"), "email": format!("{tag}{i}@example.com"),
                           "first_name": "Ada"}),
                ),
                1 => (
                    "user.created",
                    json!({"id": format!("usr_{tag}_{i}"), "email": format!("u{tag}{i}@example.com")}),
                ),
                2 => ("user.updated", json!({"id": format!("usr_{tag}_{i}")})),
                _ => (
                    "user.password_reset",
                    json!({"email": format!("r{tag}{i}@example.com")}),
                ),
            };
            let body = json!({"specversion": "1.0", "id": format!("evt_{tag}_{i}"), "type": ty,
                              "source": "test", "data": data})
            .to_string();
            let properties = BasicProperties::default();
            let envelope = Envelope::parse(&Incoming {
                routing_key: ty,
                properties: &properties,
                body: body.as_bytes(),
            })?;
            let event = Event::parse(&envelope)?;
            Ok((envelope, event))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_costs_the_same_statements_whatever_its_size() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    endpoints::create(
        &app.pool,
        &app.key,
        NewEndpoint {
            url: "https://hooks.example.com/in",
            event_types: vec![],
            secret: None,
            allow_private: false,
        },
    )
    .await
    .unwrap();
    let counter = StatementCounter::start(PG.parse().unwrap()).await;
    let url = app
        .settings
        .database
        .url
        .replacen(PG.as_str(), &counter.addr.to_string(), 1);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{url}?sslmode=disable"))
        .await
        .unwrap();
    let settings = &app.settings;
    let ctx = Context {
        invite_ttl: chrono::Duration::days(7),
        reset_ttl: chrono::Duration::hours(1),
        key: app.key.clone(),
        email_rate_limit: settings.email_rate_limit,
    };
    let mut costs = Vec::new();
    for (tag, n) in [("a", 9), ("b", 300)] {
        let items = window(tag, n);
        let before = counter.statements();
        let outcomes = batch::apply(&pool, &ctx, &items).await.unwrap();
        costs.push(counter.statements() - before);
        assert!(
            outcomes.iter().all(|o| o == &Ok(Outcome::Processed)),
            "{outcomes:?}"
        );
        // The same window again: every event a duplicate, and no dearer.
        let before = counter.statements();
        let outcomes = batch::apply(&pool, &ctx, &items).await.unwrap();
        costs.push(counter.statements() - before);
        assert!(
            outcomes.iter().all(|o| o == &Ok(Outcome::Duplicate)),
            "{outcomes:?}"
        );
    }
    // BEGIN, the ids, the subscribers, invites, the resets' locks and
    // limit, older tokens invalidated, new tokens, emails, deliveries, the
    // two wake-ups and COMMIT; a window of duplicates stops after the ids.
    assert_eq!(
        costs[0], costs[2],
        "new windows of 9 and 300 events: {costs:?}"
    );
    assert_eq!(costs[1], costs[3], "duplicate windows: {costs:?}");
    assert!(costs[0] <= 14, "a window costs {} statements", costs[0]);

    // And the writes are all there: a quarter of each kind, every event
    // forwarded, every reset's token recorded and its email's slot taken.
    let invites = app.count("SELECT count(*) FROM invites").await;
    let emails = app.count("SELECT count(*) FROM email_outbox").await;
    let deliveries = app.count("SELECT count(*) FROM webhook_deliveries").await;
    let tokens = app
        .count("SELECT count(*) FROM password_reset_tokens WHERE invalidated_at IS NULL")
        .await;
    let counted = app
        .count("SELECT count(*) FROM email_outbox WHERE template = 'password_reset' AND counted_at IS NOT NULL")
        .await;
    assert_eq!(
        (invites, emails, deliveries, tokens, counted),
        (3 + 75, 7 + 225, 309, 2 + 75, 2 + 75)
    );
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries
         WHERE event_type = 'invite.created' AND body::jsonb -> 'data' ->> 'status' = 'pending'
           AND body::jsonb -> 'data' ->> 'expires_at' IS NOT NULL AND body NOT LIKE '%token%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(held, 78, "invite webhooks carry the invite as recorded");
}

/// Resets to one address in one window apply in order, as if one at a time:
/// each invalidates the token before it, and those past the limit change
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_to_one_address_in_a_window_apply_in_order() {
    let app = TestApp::spawn_with(Options {
        no_worker: true,
        ..Default::default()
    })
    .await;
    let ctx = Context {
        invite_ttl: chrono::Duration::days(7),
        reset_ttl: chrono::Duration::hours(1),
        key: app.key.clone(),
        email_rate_limit: herald::settings::RateLimit {
            max: 3,
            per: std::time::Duration::from_secs(3600),
        },
    };
    let items: Vec<Parsed> = (0..5)
        .map(|i| {
            let email = if i % 2 == 0 {
                "ada@example.com"
            } else {
                "ADA@example.com"
            };
            let body = json!({"specversion": "1.0", "id": format!("evt_r{i}"),
                              "type": "user.password_reset", "source": "test",
                              "data": {"email": email}})
            .to_string();
            let properties = BasicProperties::default();
            let envelope = Envelope::parse(&Incoming {
                routing_key: "user.password_reset",
                properties: &properties,
                body: body.as_bytes(),
            })?;
            Ok((envelope.clone(), Event::parse(&envelope)?))
        })
        .collect();
    let outcomes = batch::apply(&app.pool, &ctx, &items).await.unwrap();
    assert!(
        outcomes.iter().all(|o| o == &Ok(Outcome::Processed)),
        "{outcomes:?}"
    );
    let tokens: Vec<(String, bool)> = sqlx::query_as(
        "SELECT event_id, invalidated_at IS NULL FROM password_reset_tokens ORDER BY event_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let expected = [("evt_r0", false), ("evt_r1", false), ("evt_r2", true)];
    let expected: Vec<(String, bool)> = expected.iter().map(|(e, l)| (e.to_string(), *l)).collect();
    assert_eq!(
        tokens, expected,
        "the last within the limit is the one live token"
    );
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, status FROM email_outbox ORDER BY event_id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let statuses: Vec<&str> = statuses.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["pending", "pending", "pending", "dropped", "dropped"]
    );
}
