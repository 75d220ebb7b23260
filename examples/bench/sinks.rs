//! The far ends, in-process and cheap: an SMTP sink that only counts and
//! timestamps, and an axum receiver that answers 204. Neither parses a body
//! while the clock runs, so they never bound what is measured.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Both far ends, started on 127.0.0.1 port 0.
pub struct Sinks {
    pub smtp: SocketAddr,
    pub mail: Arc<Log<String>>,
    pub hook_url: String,
    pub hooks: Arc<Log<Bytes>>,
}

impl Sinks {
    pub async fn start() -> anyhow::Result<Self> {
        let (smtp, mail) = smtp_sink().await?;
        let (addr, hooks) = webhook_receiver().await?;
        Ok(Sinks {
            smtp,
            mail,
            hook_url: format!("http://{addr}/hook"),
            hooks,
        })
    }
}

/// What arrived: when, and the recipient (SMTP) or raw body (webhook).
#[derive(Default)]
pub struct Log<T> {
    entries: Mutex<Vec<(Instant, T)>>,
}

impl<T> Log<T> {
    fn push(&self, item: T) {
        self.entries.lock().unwrap().push((Instant::now(), item));
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    /// Empties the log, so each phase counts from zero.
    pub fn take(&self) -> Vec<(Instant, T)> {
        std::mem::take(&mut *self.entries.lock().unwrap())
    }
}

pub async fn smtp_sink() -> anyhow::Result<(SocketAddr, Arc<Log<String>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let log = Arc::new(Log::default());
    let shared = log.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(smtp_session(stream, shared.clone()));
        }
    });
    Ok((addr, log))
}

async fn smtp_session(stream: tokio::net::TcpStream, log: Arc<Log<String>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    let mut rcpt = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                log.push(std::mem::take(&mut rcpt));
                write.write_all(b"250 queued\r\n").await?;
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "MAIL" | "NOOP" => b"250 ok\r\n",
            "RSET" => {
                rcpt.clear();
                b"250 ok\r\n"
            }
            "RCPT" => {
                rcpt = recipient(&line);
                b"250 ok\r\n"
            }
            "DATA" => {
                in_data = true;
                b"354 go on\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not here\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// `RCPT TO:<a@b>` → `a@b`.
fn recipient(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line.get(start..end).unwrap_or("").to_owned()
}

pub async fn webhook_receiver() -> anyhow::Result<(SocketAddr, Arc<Log<Bytes>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let log: Arc<Log<Bytes>> = Arc::new(Log::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, log))
}

async fn receive(State(log): State<Arc<Log<Bytes>>>, body: Bytes) -> StatusCode {
    log.push(body);
    StatusCode::NO_CONTENT
}
