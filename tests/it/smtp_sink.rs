//! An SMTP server on 127.0.0.1 port 0 that speaks enough of the protocol for
//! lettre, keeps what it accepts, and answers DATA as the test scripts it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug)]
pub enum Reply {
    Accept,
    /// Answer the end of DATA with this code.
    Code(u16),
    /// Never answer the end of DATA.
    Hang,
}

#[derive(Debug)]
pub struct Received {
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

pub struct SmtpSink {
    pub addr: SocketAddr,
    script: Arc<Script>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    /// Signalled each time a client finishes sending a message body.
    pub data_seen: Arc<Notify>,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script {
            next: Mutex::new(VecDeque::new()),
            otherwise: Mutex::new(Reply::Accept),
            accepted: AtomicUsize::new(0),
            refusing: AtomicBool::new(false),
        });
        let data_seen = Arc::new(Notify::new());
        let (tx, rx) = mpsc::unbounded_channel();
        let (s, n) = (script.clone(), data_seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, s.clone(), tx.clone(), n.clone()));
            }
        });
        SmtpSink {
            addr,
            script,
            received: tokio::sync::Mutex::new(rx),
            data_seen,
            task,
        }
    }

    /// The next messages' DATA answers, in order; `Accept` after these.
    pub fn script(&self, replies: &[Reply]) {
        self.script
            .next
            .lock()
            .unwrap()
            .extend(replies.iter().copied());
    }

    /// How DATA is answered once the script is spent (`Accept` at first).
    pub fn otherwise(&self, reply: Reply) {
        *self.script.otherwise.lock().unwrap() = reply;
    }

    /// While on, every new session is refused at the greeting with 554, as
    /// a relay does that blocks the client or is out of service.
    pub fn refuse_sessions(&self, on: bool) {
        self.script.refusing.store(on, Ordering::SeqCst);
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> usize {
        self.script.accepted.load(Ordering::SeqCst)
    }

    pub async fn next_email(&self) -> Received {
        tokio::time::timeout(Duration::from_secs(30), self.received.lock().await.recv())
            .await
            .expect("an email within 30 s")
            .unwrap()
    }

    /// Emails already received, without waiting.
    pub async fn drain(&self) -> Vec<Received> {
        let mut rx = self.received.lock().await;
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The DATA answers to give, and a count of what was accepted.
struct Script {
    next: Mutex<VecDeque<Reply>>,
    otherwise: Mutex<Reply>,
    accepted: AtomicUsize,
    refusing: AtomicBool,
}

async fn session(
    stream: tokio::net::TcpStream,
    script: Arc<Script>,
    received: mpsc::UnboundedSender<Received>,
    data_seen: Arc<Notify>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut rcpt_to = Vec::new();
    if script.refusing.load(Ordering::SeqCst) {
        let _ = write
            .write_all(b"554 5.7.1 sink refuses sessions\r\n")
            .await;
        return;
    }
    if write.write_all(b"220 sink ESMTP ready\r\n").await.is_err() {
        return;
    }
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "MAIL" | "RSET" => {
                rcpt_to.clear();
                b"250 ok\r\n"
            }
            "RCPT" => {
                rcpt_to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                b"250 ok\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            "DATA" => {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let mut data = Vec::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.extend_from_slice(l.strip_prefix('.').unwrap_or(&l).as_bytes());
                }
                data_seen.notify_waiters();
                let next = script.next.lock().unwrap().pop_front();
                let reply = next.unwrap_or_else(|| *script.otherwise.lock().unwrap());
                match reply {
                    Reply::Accept => {
                        script.accepted.fetch_add(1, Ordering::SeqCst);
                        let _ = received.send(Received {
                            rcpt_to: std::mem::take(&mut rcpt_to),
                            data,
                        });
                        b"250 2.0.0 queued\r\n"
                    }
                    Reply::Code(451) => b"451 4.3.0 try again later\r\n",
                    Reply::Code(550) => b"550 5.1.1 no such user\r\n",
                    Reply::Code(_) => b"554 5.0.0 refused\r\n",
                    Reply::Hang => {
                        std::future::pending::<()>().await;
                        unreachable!()
                    }
                }
            }
            _ => b"502 not implemented\r\n",
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}
