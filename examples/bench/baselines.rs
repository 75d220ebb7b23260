//! The raw baselines: each of Herald's four kinds of work done alone, the
//! plainest way, on the same services and over the same number of items;
//! and lettre's own pooled transport, to show what Herald's pool avoids.

use crate::setup::{self, Event, Names};
use crate::sinks::Log;
use futures_util::StreamExt;
use herald::settings::Settings;
use herald::webhooks::signing::{Secret, sign};
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lettre::message::MultiPart;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Consume-and-ack only: the same bodies through a scratch quorum queue
/// (Herald's queue type), with Herald's prefetch. Times the consume alone.
pub async fn amqp(names: &Names, prefetch: u16, events: &[Event]) -> anyhow::Result<Duration> {
    let conn = herald::intake::connect(setup::AMQP, "bench-amqp").await?;
    let ch = setup::confirming_channel(&conn).await?;
    let queue = names.queues[2].as_str();
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    ch.queue_declare(queue.into(), durable, args).await?;
    setup::publish_all(&ch, "", Some(queue), events).await?;
    let consumer_ch = conn.create_channel().await?;
    consumer_ch
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let started = Instant::now();
    let mut deliveries = consumer_ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for _ in 0..events.len() {
        let delivery = deliveries
            .next()
            .await
            .ok_or_else(|| anyhow::anyhow!("consumer ended"))??;
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    let elapsed = started.elapsed();
    let _ = conn.close(200, "done".into()).await;
    Ok(elapsed)
}

/// Rendered multipart emails over Herald's email concurrency of lettre SMTP
/// connections on sockets with `TCP_NODELAY`, each sending one after another.
pub async fn smtp_nodelay(
    settings: &Settings,
    n: usize,
    sink: &Log<String>,
) -> anyhow::Result<Duration> {
    let templates = Arc::new(herald::app::load_templates(settings)?);
    let addr = settings
        .smtp_url
        .strip_prefix("smtp://")
        .ok_or_else(|| anyhow::anyhow!("the sink is plain smtp://"))?
        .to_owned();
    let mut connections = Vec::new();
    for _ in 0..settings.email_concurrency {
        let stream = tokio::net::TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        connections.push(
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default())
                .await?,
        );
    }
    let next = Arc::new(AtomicUsize::new(0));
    sink.take();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for mut conn in connections {
        let (next, templates) = (next.clone(), templates.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                let message = email(&templates, i)?;
                conn.send(message.envelope(), &message.formatted()).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(sink.take().len() == n, "the sink did not get every email");
    Ok(elapsed)
}

/// The same emails through lettre's own pooled transport, as a user would
/// configure it, with Herald's email concurrency in flight.
pub async fn smtp_lettre_pool(
    settings: &Settings,
    n: usize,
    sink: &Log<String>,
) -> anyhow::Result<Duration> {
    let templates = herald::app::load_templates(settings)?;
    let concurrency = usize::from(settings.email_concurrency);
    let pool = PoolConfig::new().max_size(u32::from(settings.email_concurrency));
    let transport = Arc::new(
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)?
            .pool_config(pool)
            .build(),
    );
    let templates = Arc::new(templates);
    sink.take();
    let started = Instant::now();
    in_flight(n, concurrency, |i| {
        let (transport, templates) = (transport.clone(), templates.clone());
        async move {
            transport.send(email(&templates, i)?).await?;
            anyhow::Ok(())
        }
    })
    .await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(sink.take().len() == n, "the sink did not get every email");
    Ok(elapsed)
}

fn email(templates: &herald::email::Templates, i: usize) -> anyhow::Result<Message> {
    let invite = herald::store::EmailTemplate::Invite;
    let mut data = herald::email::sample_data(invite);
    data["email"] = format!("raw{i}@bench.test").into();
    let ctx = herald::email::render_context(invite, &data, Some("tok"), "https://x.test/app", None);
    let rendered = templates.render(invite, None, &ctx)?;
    Ok(Message::builder()
        .from("Herald <no-reply@localhost>".parse()?)
        .to(format!("raw{i}@bench.test").parse()?)
        .subject(rendered.subject)
        .message_id(Some(format!("<{}@localhost>", uuid::Uuid::now_v7())))
        .date_now()
        .multipart(MultiPart::alternative_plain_html(
            rendered.text,
            rendered.html,
        ))?)
}

/// Signed payloads POSTed with reqwest, Herald's webhook concurrency in flight.
pub async fn webhooks(
    url: &str,
    concurrency: usize,
    n: usize,
    receiver: &Log<axum::body::Bytes>,
) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let secret = Arc::new(Secret::generate());
    receiver.take();
    let started = Instant::now();
    in_flight(n, concurrency, |i| {
        let (client, secret, url) = (client.clone(), secret.clone(), url.to_owned());
        async move {
            let now = chrono::Utc::now();
            let body = herald::webhooks::payload::build(
                "invite.created",
                now,
                serde_json::json!({"id": format!("raw-{i}"), "email": "a@bench.test"})
                    .as_object()
                    .expect("object"),
                None,
            );
            let msg_id = uuid::Uuid::now_v7().to_string();
            let signature = sign(&secret, &msg_id, now.timestamp(), &body);
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", msg_id)
                .header("webhook-timestamp", now.timestamp().to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "status {}",
                response.status()
            );
            anyhow::Ok(())
        }
    })
    .await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        receiver.take().len() == n,
        "the receiver did not get every request"
    );
    Ok(elapsed)
}

/// Connections of the event-shaped commit baseline, as `pgbench -c 4`.
const COMMIT_CLIENTS: usize = 4;

/// PostgreSQL's one-commit-per-event ceiling, with none of Herald's code:
/// `n` transactions of 4 INSERT + 1 UPDATE (the rows an `invite.created`
/// leaves: its id, the invite, its email, its webhook, and one update), one
/// commit each, over [`COMMIT_CLIENTS`] connections, on scratch tables.
pub async fn event_commits(database_url: &str, n: usize) -> anyhow::Result<Duration> {
    use sqlx::migrate::MigrateDatabase;
    if !sqlx::Postgres::database_exists(database_url).await? {
        sqlx::Postgres::create_database(database_url).await?;
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(COMMIT_CLIENTS as u32)
        .connect(database_url)
        .await?;
    for ddl in [
        "CREATE TABLE IF NOT EXISTS raw_ids (id TEXT PRIMARY KEY, at TIMESTAMPTZ NOT NULL DEFAULT now())",
        "CREATE TABLE IF NOT EXISTS raw_invites (id TEXT PRIMARY KEY, email TEXT NOT NULL,
             token_hash BYTEA NOT NULL, status TEXT NOT NULL, updated_at TIMESTAMPTZ)",
        "CREATE TABLE IF NOT EXISTS raw_emails (id UUID PRIMARY KEY, event_id TEXT NOT NULL,
             data JSONB NOT NULL, status TEXT NOT NULL DEFAULT 'pending')",
        "CREATE TABLE IF NOT EXISTS raw_hooks (id UUID PRIMARY KEY, event_id TEXT NOT NULL, body TEXT NOT NULL)",
    ] {
        sqlx::query(ddl).execute(&pool).await?;
    }
    let started = Instant::now();
    let pool = Arc::new(pool);
    in_flight(n, COMMIT_CLIENTS, |i| {
        let pool = pool.clone();
        async move {
            let id = format!("raw-{i}");
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO raw_ids (id) VALUES ($1)")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO raw_invites (id, email, token_hash, status) VALUES ($1, $2, $3, 'pending')")
                .bind(&id)
                .bind(format!("{id}@example.test"))
                .bind([7u8; 32].as_slice())
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO raw_emails (id, event_id, data) VALUES ($1, $2, $3)")
                .bind(uuid::Uuid::now_v7())
                .bind(&id)
                .bind(serde_json::json!({"invite_id": id, "first_name": "Ada"}))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO raw_hooks (id, event_id, body) VALUES ($1, $2, $3)")
                .bind(uuid::Uuid::now_v7())
                .bind(&id)
                .bind(r#"{"type":"invite.created","data":{"id":"x"}}"#)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE raw_invites SET updated_at = now() WHERE id = $1")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await?;
    let elapsed = started.elapsed();
    pool.close().await;
    Ok(elapsed)
}

/// Runs `job(0..n)` with at most `concurrency` at once, failing on the
/// first error.
async fn in_flight<F, Fut>(n: usize, concurrency: usize, job: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let permit = permits.clone().acquire_owned().await?;
        let work = job(i);
        tasks.spawn(async move {
            let result = work.await;
            drop(permit);
            result
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
