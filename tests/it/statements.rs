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

/// `n` events of the set-based kinds, their ids and invite ids under `tag`.
fn window(tag: &str, n: usize) -> Vec<Parsed> {
    (0..n)
        .map(|i| {
            let (ty, data) = match i % 3 {
                0 => (
                    "invite.created",
                    json!({"id": format!("inv_{tag}_{i}"), "email": format!("{tag}{i}@example.com"),
                           "first_name": "Ada"}),
                ),
                1 => (
                    "user.created",
                    json!({"id": format!("usr_{tag}_{i}"), "email": format!("u{tag}{i}@example.com")}),
                ),
                _ => ("user.updated", json!({"id": format!("usr_{tag}_{i}")})),
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
    // BEGIN, the ids, the subscribers, invites, emails, deliveries, the
    // two wake-ups and COMMIT; a window of duplicates stops after the ids.
    assert_eq!(
        costs[0], costs[2],
        "new windows of 9 and 300 events: {costs:?}"
    );
    assert_eq!(costs[1], costs[3], "duplicate windows: {costs:?}");
    assert!(costs[0] <= 10, "a window costs {} statements", costs[0]);

    // And the writes are all there: a third of each kind, every event forwarded.
    let invites = app.count("SELECT count(*) FROM invites").await;
    let emails = app.count("SELECT count(*) FROM email_outbox").await;
    let deliveries = app.count("SELECT count(*) FROM webhook_deliveries").await;
    assert_eq!((invites, emails, deliveries), (3 + 100, 6 + 200, 309));
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries
         WHERE event_type = 'invite.created' AND body::jsonb -> 'data' ->> 'status' = 'pending'
           AND body::jsonb -> 'data' ->> 'expires_at' IS NOT NULL AND body NOT LIKE '%token%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(held, 103, "invite webhooks carry the invite as recorded");
}
