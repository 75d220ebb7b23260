//! `TestApp`: a worker on a fresh database and fresh AMQP names, and the
//! small vocabulary tests speak (`publish`, `wait_until`, `dead_letters`).

use crate::proxy::Proxy;
use crate::smtp_sink::SmtpSink;
use base64::Engine;
use clap::Parser;
use herald::cli::Cli;
use herald::settings::Settings;
use herald::store::SecretKey;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use sqlx::PgPool;
use std::future::Future;
use std::sync::{LazyLock, Once};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// PostgreSQL (user postgres, trust) and RabbitMQ (guest/guest) for the tests:
/// native by default; `HERALD_TEST_PG` / `HERALD_TEST_AMQP` point elsewhere
/// (e.g. the compose services on 55432 / 56720).
pub static PG: LazyLock<String> =
    LazyLock::new(|| std::env::var("HERALD_TEST_PG").unwrap_or_else(|_| "127.0.0.1:5432".into()));
pub static AMQP: LazyLock<String> =
    LazyLock::new(|| std::env::var("HERALD_TEST_AMQP").unwrap_or_else(|_| "127.0.0.1:5672".into()));
pub const API_TOKEN: &str = "test-api-token-7c1f0e9a2b4d6f8a0c3e5b7d9f1a3c5e";

#[derive(Default)]
pub struct Options {
    pub proxy_db: bool,
    pub proxy_amqp: bool,
    pub proxy_smtp: bool,
    /// Do not start the in-process worker (tests that drive the binary).
    pub no_worker: bool,
}

pub struct TestApp {
    /// Settings pointing straight at the services.
    pub settings: Settings,
    /// What the worker uses: through the proxies where asked for.
    pub worker_settings: Settings,
    pub pool: PgPool,
    pub key: SecretKey,
    pub key_b64: String,
    pub amqp: Connection,
    pub channel: Channel,
    pub db_proxy: Option<Proxy>,
    pub amqp_proxy: Option<Proxy>,
    pub smtp: SmtpSink,
    pub smtp_proxy: Option<Proxy>,
    name: String,
    /// The worker's HTTP address, once started.
    pub http: Option<std::net::SocketAddr>,
    pub client: reqwest::Client,
    cancel: CancellationToken,
    worker: Option<JoinHandle<anyhow::Result<()>>>,
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The test's own reqwest client, like Herald's, uses rustls with ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if std::env::var_os("TEST_LOG").is_some() {
            herald::telemetry::init(Some(herald::settings::LogFormat::Pretty));
        }
    });
}

pub fn settings_for(db: &str, amqp: &str, smtp: &str, name: &str, key: &str) -> Settings {
    let cli = Cli::try_parse_from([
        "herald",
        "run",
        "--database-url",
        &format!("postgres://postgres@{db}/herald_test_{name}"),
        "--amqp-url",
        &format!("amqp://guest:guest@{amqp}/%2f"),
        "--exchange",
        &format!("test.{name}"),
        "--queue",
        &format!("herald.test.{name}"),
        "--secret-key",
        key,
        "--smtp-url",
        &format!("smtp://{smtp}"),
        "--templates-dir",
        concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
        "--link-base-url",
        "https://admin.example.test/app",
        "--email-retry-schedule",
        "100ms,100ms,100ms",
        "--smtp-timeout",
        "2s",
        "--api-token",
        API_TOKEN,
        "--http-addr",
        "127.0.0.1:0",
    ])
    .expect("test settings parse");
    cli.command.into_run_settings().expect("parsed `run`")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(opts: Options) -> Self {
        init_logs();
        let name = Uuid::new_v4().simple().to_string();
        let key_b64 = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
        let smtp = SmtpSink::start().await;
        let smtp_addr = smtp.addr.to_string();
        let settings = settings_for(&PG, &AMQP, &smtp_addr, &name, &key_b64);
        herald::app::migrate(&settings.database, &settings.broker, &settings.keys)
            .await
            .expect("migrate");
        let db_proxy = if opts.proxy_db {
            Some(Proxy::start(PG.parse().unwrap()).await)
        } else {
            None
        };
        let amqp_proxy = if opts.proxy_amqp {
            Some(Proxy::start(AMQP.parse().unwrap()).await)
        } else {
            None
        };
        let db_addr = db_proxy
            .as_ref()
            .map_or(PG.to_owned(), |p| p.addr.to_string());
        let amqp_addr = amqp_proxy
            .as_ref()
            .map_or(AMQP.to_owned(), |p| p.addr.to_string());
        let smtp_proxy = if opts.proxy_smtp {
            Some(Proxy::start(smtp.addr).await)
        } else {
            None
        };
        let smtp_addr = smtp_proxy
            .as_ref()
            .map_or(smtp_addr, |p| p.addr.to_string());
        let worker_settings = settings_for(&db_addr, &amqp_addr, &smtp_addr, &name, &key_b64);
        let pool = PgPool::connect(&settings.database.url).await.unwrap();
        let amqp = herald::intake::connect(&settings.broker.amqp_url, "test")
            .await
            .unwrap();
        let channel = amqp.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        let cancel = CancellationToken::new();
        let mut app = TestApp {
            key: settings.keys.secret_key().unwrap(),
            settings,
            worker_settings,
            pool,
            key_b64,
            amqp,
            channel,
            db_proxy,
            amqp_proxy,
            smtp,
            smtp_proxy,
            name,
            http: None,
            client: reqwest::Client::new(),
            cancel,
            worker: None,
        };
        if !opts.no_worker {
            app.start_worker();
        }
        app
    }

    pub fn start_worker(&mut self) {
        self.cancel = CancellationToken::new();
        let (settings, cancel) = (self.worker_settings.clone(), self.cancel.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        self.http = Some(listener.local_addr().unwrap());
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        self.worker = Some(tokio::spawn(herald::app::run_with_listener(
            settings, listener, cancel,
        )));
    }

    /// Ends the worker abruptly, as a crash would: its tasks are dropped
    /// mid-flight and nothing is recorded or acked.
    pub async fn kill_worker(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
            let _ = worker.await;
        }
    }

    /// Graceful stop of the in-process worker; it must end without error.
    pub async fn stop_worker(&mut self) {
        self.cancel.cancel();
        if let Some(worker) = self.worker.take() {
            tokio::time::timeout(Duration::from_secs(20), worker)
                .await
                .expect("worker stops within 20 s")
                .unwrap()
                .expect("worker ends cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.expect("worker started"))
    }

    /// An authorised JSON POST to the API.
    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(API_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// The worker's `/metrics` text.
    pub async fn metrics(&self) -> String {
        let res = self.client.get(self.url("/metrics")).send().await.unwrap();
        res.text().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// Registers an endpoint (private targets allowed) for `events`, or
    /// every type when empty; returns its id and its secret.
    pub async fn register(&self, url: &str, events: &[&str]) -> (Uuid, String) {
        let new = herald::webhooks::endpoints::NewEndpoint {
            url,
            event_types: events.iter().map(|t| t.to_string()).collect(),
            secret: None,
            allow_private: true,
        };
        let (id, secret) = herald::webhooks::endpoints::create(&self.pool, &self.key, new)
            .await
            .unwrap();
        (id, secret.expose().to_owned())
    }

    /// Publishes a structured CloudEvent; returns its id.
    pub async fn publish(&self, event_type: &str, data: Value) -> String {
        let id = Uuid::new_v4().to_string();
        self.publish_with_id(event_type, &id, data).await;
        id
    }

    pub async fn publish_with_id(&self, event_type: &str, id: &str, data: Value) {
        herald::intake::publisher::publish_event(
            &self.channel,
            &self.settings.broker,
            event_type,
            id,
            data,
        )
        .await
        .expect("publish");
    }

    /// Publishes any bytes with the given routing key and properties.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8], props: BasicProperties) {
        let confirm = self
            .channel
            .basic_publish(
                self.settings.broker.exchange.as_str().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
    }

    pub async fn processed(&self) -> i64 {
        self.count("SELECT count(*) FROM processed_events").await
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Waits until `processed_events` holds `n` rows.
    pub async fn wait_processed(&self, n: i64) {
        wait_until(&format!("{n} events processed"), || async {
            self.processed().await >= n
        })
        .await;
        assert_eq!(self.processed().await, n);
    }

    /// Waits until no email in the outbox is still pending.
    pub async fn wait_emails_final(&self) {
        wait_until("every email final", || async {
            self.count("SELECT count(*) FROM email_outbox WHERE status = 'pending'")
                .await
                == 0
        })
        .await;
    }

    /// Takes every message from the dead-letter queue.
    pub async fn take_dead_letters(&self) -> Vec<lapin::message::Delivery> {
        let mut out = Vec::new();
        let queue = self.settings.broker.dead_letter_name();
        while let Some(msg) = self
            .channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await
            .unwrap()
        {
            msg.delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .unwrap();
            out.push(msg.delivery);
        }
        out
    }

    /// Ready messages in a queue (not counting unacked ones).
    pub async fn queue_len(&self, queue: &str) -> u32 {
        let ch = self.amqp.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = ch.close(200, "ok".into()).await;
        q.message_count()
    }

    /// Environment for running the `herald` binary against this app.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let s = &self.worker_settings;
        vec![
            ("DATABASE_URL", s.database.url.clone()),
            ("AMQP_URL", s.broker.amqp_url.clone()),
            ("HERALD_EXCHANGE", s.broker.exchange.clone()),
            ("HERALD_QUEUE", s.broker.queue.clone()),
            ("HERALD_SECRET_KEY", self.key_b64.clone()),
            ("HERALD_LOG_FORMAT", "json".into()),
            ("SMTP_URL", s.smtp_url.clone()),
            (
                "HERALD_TEMPLATES_DIR",
                s.rendering.templates_dir.display().to_string(),
            ),
            ("HERALD_LINK_BASE_URL", s.rendering.link_base_url.clone()),
            ("HERALD_EMAIL_RETRY_SCHEDULE", "100ms,100ms,100ms".into()),
            ("HERALD_SMTP_TIMEOUT", "2s".into()),
            ("HERALD_HTTP_ADDR", "127.0.0.1:0".into()),
            ("HERALD_API_TOKEN", API_TOKEN.into()),
        ]
    }
}

pub fn herald_bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    // Nothing from the developer's environment or .env leaks into the test.
    cmd.current_dir(std::env::temp_dir());
    for (k, _) in std::env::vars() {
        if k.starts_with("HERALD_")
            || ["DATABASE_URL", "AMQP_URL", "SMTP_URL", "RUST_LOG"].contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).unwrap();
    b
}

/// Polls `cond` every 20 ms for up to 30 s.
pub async fn wait_until<F, Fut>(what: &str, cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, Duration::from_secs(30), cond).await;
}

/// Polls `cond` every 20 ms for up to `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Header value as text.
pub fn header(props: &BasicProperties, key: &str) -> Option<String> {
    match props.headers().as_ref()?.inner().get(key)? {
        lapin::types::AMQPValue::LongString(s) => {
            Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
        }
        lapin::types::AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

#[derive(sqlx::FromRow)]
struct StoredEmail {
    id: Uuid,
    template: String,
    recipient: String,
    data: Value,
    token_sealed: Option<Vec<u8>>,
}

/// An outbox row with its token opened.
pub struct OutboxRow {
    pub template: String,
    pub recipient: String,
    pub data: Value,
    pub token: Option<String>,
}

impl TestApp {
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        let rows: Vec<StoredEmail> = sqlx::query_as(
            "SELECT id, template, recipient, data, token_sealed FROM email_outbox ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        rows.into_iter()
            .map(|r| OutboxRow {
                token: r.token_sealed.map(|s| {
                    let recipient = herald::domain::EmailAddress::parse(&r.recipient).unwrap();
                    let place = herald::store::Place::Email {
                        row: r.id,
                        recipient: &recipient,
                        template: r.template.parse().unwrap(),
                    };
                    self.key.open_token(&s, &place).unwrap().expose().to_owned()
                }),
                template: r.template,
                recipient: r.recipient,
                data: r.data,
            })
            .collect()
    }
}

impl TestApp {
    /// Waits for the next email and returns its recipient and the token in
    /// its link.
    pub async fn next_token(&self) -> (String, String) {
        let received = self.smtp.next_email().await;
        let message = mail_parser::MessageParser::default()
            .parse(&received.data)
            .expect("valid MIME");
        let text = message.body_text(0).expect("a text part").into_owned();
        let start = text.find("?token=").expect("a link with a token") + "?token=".len();
        let token = text[start..]
            .split(|c: char| c == '&' || c.is_whitespace())
            .next()
            .unwrap();
        (received.rcpt_to[0].clone(), token.to_owned())
    }
}

pub fn sha256(token: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

/// Each test leaves nothing behind: its queues, exchanges and database go
/// with it, so repeated runs do not pile up quorum queues on the broker.
impl Drop for TestApp {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
        let (settings, name) = (self.settings.clone(), self.name.clone());
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(conn) =
                    herald::intake::connect(&settings.broker.amqp_url, "test-cleanup").await
                    && let Ok(ch) = conn.create_channel().await
                {
                    let dead = settings.broker.dead_letter_name();
                    for queue in [settings.broker.queue.as_str(), dead.as_str()] {
                        let _ = ch.queue_delete(queue.into(), Default::default()).await;
                    }
                    for exchange in [settings.broker.exchange.as_str(), dead.as_str()] {
                        let _ = ch
                            .exchange_delete(exchange.into(), Default::default())
                            .await;
                    }
                    let _ = conn.close(200, "cleaned up".into()).await;
                }
                if let Ok(pool) =
                    PgPool::connect(&format!("postgres://postgres@{}/postgres", *PG)).await
                {
                    let sql = format!("DROP DATABASE IF EXISTS herald_test_{name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
