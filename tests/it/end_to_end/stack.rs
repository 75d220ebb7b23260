//! A `Stack`: fresh database and queue names, every service behind a proxy
//! the test controls, a webhook endpoint subscribed to every event, and
//! `herald run` child processes started and stopped as the scenario says.

use super::stream::{Expected, Stream};
use crate::helpers::{Options, TestApp, herald_bin, wait_for};
use crate::proxy::Proxy;
use crate::receiver::Receiver;
use herald::intake::publisher::publish_event;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

/// Retries outlast a 10 s outage and a 451 phase with room to spare.
const RETRY_SCHEDULE: &str = "200ms,500ms,1s,2s,3s,3s,3s,3s,3s,3s";
/// One webhook attempt; the slow phase answers just inside it.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(2);
/// Generous: the machine is shared with every other test.
pub const SETTLE: Duration = Duration::from_secs(90);

pub struct Stack {
    pub app: TestApp,
    pub receiver: Receiver,
    /// In front of the receiver: the endpoint's URL points here.
    pub hook_proxy: Proxy,
    workers: Vec<Option<Child>>,
    logs: Vec<PathBuf>,
}

impl Stack {
    pub async fn new() -> Self {
        let app = TestApp::spawn_with(Options {
            proxy_db: true,
            proxy_amqp: true,
            proxy_smtp: true,
            no_worker: true,
        })
        .await;
        let receiver = Receiver::start(Vec::new()).await;
        let hook_proxy = Proxy::start(receiver.addr).await;
        let url = format!("http://{}/hook", hook_proxy.addr);
        app.register(&url, &[]).await;
        Stack {
            app,
            receiver,
            hook_proxy,
            workers: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// Starts one more `herald run`; returns its index. Its log (JSON) goes
    /// to a file in the temp directory, kept when the test fails.
    pub fn start_worker(&mut self) -> usize {
        self.start_worker_with(&[])
    }

    /// As [`Stack::start_worker`], with more settings.
    pub fn start_worker_with(&mut self, env: &[(&'static str, String)]) -> usize {
        let n = self.workers.len();
        let log = std::env::temp_dir().join(format!(
            "herald-e2e-{}-{n}.log",
            self.app.settings.broker.queue
        ));
        eprintln!("worker {n} logs to {}", log.display());
        let child = herald_bin()
            .arg("run")
            .envs(self.app.env())
            .envs([
                ("HERALD_EMAIL_RETRY_SCHEDULE", RETRY_SCHEDULE.to_owned()),
                ("HERALD_WEBHOOK_RETRY_SCHEDULE", RETRY_SCHEDULE.to_owned()),
                (
                    "HERALD_WEBHOOK_TIMEOUT",
                    format!("{}ms", WEBHOOK_TIMEOUT.as_millis()),
                ),
                ("HERALD_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
                ("RUST_LOG", "info".to_owned()),
            ])
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start herald");
        self.workers.push(Some(child));
        self.logs.push(log);
        n
    }

    pub fn pid(&self, worker: usize) -> u32 {
        self.workers[worker].as_ref().expect("running").id()
    }

    /// SIGKILL: the worker dies mid-flight, as on a crash or OOM kill.
    pub fn kill(&mut self, worker: usize) {
        let mut child = self.workers[worker].take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits for the worker to exit.
    pub async fn terminate(&mut self, worker: usize) -> ExitStatus {
        let mut child = self.workers[worker].take().expect("running");
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap()
    }

    /// Publishes the seeds, waits until they are processed and their emails
    /// sent (an invite accepted before its email went out ends `expired`),
    /// then publishes the stream (the workers already running take it as it
    /// comes).
    pub async fn publish(&self, stream: &Stream) {
        self.publish_all(&stream.seeds).await;
        let seeds = stream.seeds.len() as i64;
        self.wait("the seed invites processed and mailed", || async {
            self.app.processed().await >= seeds
                && self
                    .app
                    .count("SELECT count(*) FROM email_outbox WHERE status = 'sent'")
                    .await
                    >= seeds
        })
        .await;
        self.publish_all(&stream.events).await;
    }

    /// Publishes every event at once (Herald's own publisher, all confirms
    /// awaited together): the stream lands in the queue at once.
    pub async fn publish_all(&self, events: &[(&'static str, Value)]) {
        let publishes = events.iter().map(|(kind, data)| {
            let id = uuid::Uuid::new_v4().to_string();
            async move {
                publish_event(
                    &self.app.channel,
                    &self.app.settings.broker,
                    kind,
                    &id,
                    data.clone(),
                )
                .await
            }
        });
        futures_util::future::try_join_all(publishes)
            .await
            .expect("the broker took every event");
    }

    /// Waits (up to [`SETTLE`]) for `cond`.
    pub async fn wait<F, Fut>(&self, what: &str, cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_for(what, SETTLE, cond).await;
    }

    /// Waits until `n` events of the stream (past the seeds) are processed.
    pub async fn wait_stream_processed(&self, expected: &Expected, n: i64) {
        let seeds = expected.seeds;
        self.wait(&format!("{n} stream events processed"), || async {
            self.app.processed().await >= seeds + n
        })
        .await;
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in self.workers.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            for log in &self.logs {
                let _ = std::fs::remove_file(log);
            }
        }
    }
}
