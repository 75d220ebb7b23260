//! SMTP connections kept open and reused: lettre's protocol client over
//! sockets that Herald opens itself, with `TCP_NODELAY` set.
//!
//! lettre writes a message's body and its closing `\r\n.\r\n` in two writes.
//! With Nagle's algorithm on, the second waits until the server acknowledges
//! the first, and the server's delayed ACK holds that back about 40 ms: every
//! message on a connection took at least 44 ms. lettre's own pool opens its
//! sockets itself and has no option for this, so this pool opens them.

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use std::borrow::Cow;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// A connection parked longer than this is checked with `NOOP` before use;
/// under load connections come back within milliseconds and skip the round trip.
const CHECK_AFTER: Duration = Duration::from_secs(1);

/// Where and how to connect, as `SMTP_URL` says (the same URL forms lettre's
/// `AsyncSmtpTransport::from_url` takes).
#[derive(Clone)]
pub struct Server {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl Server {
    pub fn from_url(url: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
        let host = url.host_str().ok_or("smtp host undefined")?.to_owned();
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let params = || TlsParameters::new(host.clone()).map_err(|e| e.to_string());
        let (default_port, tls) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (25, Tls::None),
            ("smtp", Some("required")) => (587, Tls::Required(params()?)),
            ("smtp", Some("opportunistic")) => (587, Tls::Opportunistic(params()?)),
            ("smtps", _) => (465, Tls::Wrapper(params()?)),
            (scheme, tls) => {
                return Err(format!(
                    "unknown scheme {scheme:?} or tls parameter {tls:?}"
                ));
            }
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(Cow::into_owned)
                .map_err(|e| e.to_string())
        };
        let credentials = match url.password() {
            Some(password) => Some(Credentials::new(decode(url.username())?, decode(password)?)),
            None => None,
        };
        Ok(Server {
            port: url.port().unwrap_or(default_port),
            host,
            tls,
            credentials,
            hello,
        })
    }

    /// A new connection, greeted (and encrypted and authenticated when the
    /// URL says so). Whatever goes wrong here is about the relay, never
    /// about a message: [`Failure::Unreachable`] or [`Failure::Session`].
    pub async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let mut conn = match &self.tls {
            // Implicit TLS must start before the greeting, which lettre reads
            // as soon as it is handed a stream: lettre opens this socket
            // itself, so it keeps Nagle on.
            Tls::Wrapper(params) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                None,
                &self.hello,
                Some(params.clone()),
                None,
            )
            .await
            .map_err(Failure::Session)?,
            tls => {
                let stream = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| Failure::Unreachable(format!("connecting: {e}")))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| Failure::Unreachable(format!("TCP_NODELAY: {e}")))?;
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(Failure::Session)?;
                match tls {
                    Tls::Required(params) => conn.starttls(params.clone(), &self.hello).await,
                    Tls::Opportunistic(params) if conn.can_starttls() => {
                        conn.starttls(params.clone(), &self.hello).await
                    }
                    _ => Ok(()),
                }
                .map_err(Failure::Session)?;
                conn
            }
        };
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(Failure::Session)?;
        }
        Ok(conn)
    }
}

/// Why a send did not end in a reply from the server.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be opened.
    Unreachable(String),
    /// The relay refused or broke the session before a message was offered:
    /// at the greeting, EHLO, STARTTLS, TLS or AUTH.
    Session(lettre::transport::smtp::Error),
    /// What lettre reported for the message itself (MAIL FROM, RCPT TO,
    /// DATA): a reply code, or a connection that broke meanwhile.
    Smtp(lettre::transport::smtp::Error),
    /// No answer within the timeout, while connecting or sending.
    TimedOut { connecting: bool },
}

pub struct SmtpPool {
    server: Server,
    timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    /// Keeps at most `max_idle` connections open between sends; how many are
    /// in use at once is up to the caller.
    pub fn new(server: Server, timeout: Duration, max_idle: usize) -> Self {
        SmtpPool {
            server,
            timeout,
            idle_timeout: Duration::from_secs(30),
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one message under one deadline, `timeout` from now, covering
    /// the check of a parked connection, connecting and the exchange.
    pub async fn send(&self, envelope: &Envelope, body: &[u8]) -> Result<Response, Failure> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut conn = match tokio::time::timeout_at(deadline, self.checkout()).await {
            Ok(Some(conn)) => conn,
            Ok(None) => tokio::time::timeout_at(deadline, self.server.connect())
                .await
                .map_err(|_| Failure::TimedOut { connecting: true })??,
            Err(_) => return Err(Failure::TimedOut { connecting: true }),
        };
        let sent = tokio::time::timeout_at(deadline, conn.send(envelope, body))
            .await
            // Dropped mid-exchange: the socket closes and the server discards it.
            .map_err(|_| Failure::TimedOut { connecting: false })?;
        // After an error lettre has quit the connection, and it reports broken.
        if !conn.has_broken() {
            let mut idle = self.idle.lock().expect("pool lock");
            if idle.len() < self.max_idle {
                idle.push((conn, Instant::now()));
            }
        }
        sent.map_err(Failure::Smtp)
    }

    /// The most recently parked connection that still works, if any.
    async fn checkout(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = {
                let mut idle = self.idle.lock().expect("pool lock");
                let now = Instant::now();
                idle.retain(|(_, since)| now - *since < self.idle_timeout);
                idle.pop()?
            };
            if since.elapsed() < CHECK_AFTER {
                return Some(conn);
            }
            // Bounded by the caller's deadline.
            if conn.test_connected().await {
                return Some(conn);
            }
        }
    }
}
