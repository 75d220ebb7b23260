//! The SMTP connection pool built from `SMTP_URL`, or `file://DIR` for
//! development, and the classification of what went wrong.

use super::smtp_pool::{Failure, Server, SmtpPool};
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub enum Mailer {
    Smtp(SmtpPool),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// How a send ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Sent {
        code: Option<u16>,
        detail: String,
    },
    /// A 4xx reply or a timeout: retried on the schedule.
    Transient {
        code: Option<u16>,
        detail: String,
    },
    /// A 5xx reply: failed at once.
    Permanent {
        code: Option<u16>,
        detail: String,
    },
    /// The server could not be reached, or refused the session before a
    /// message was offered (greeting, EHLO, STARTTLS, TLS, AUTH): retried
    /// soon, without using up the email's retry schedule, since no email is
    /// at fault.
    Unreachable {
        code: Option<u16>,
        detail: String,
    },
}

impl Mailer {
    /// How message bodies should be encoded for this transport.
    pub fn encoding(&self) -> super::message::Encoding {
        match self {
            Mailer::Smtp(_) => super::message::Encoding::Safe,
            Mailer::File(_) => super::message::Encoding::Readable,
        }
    }

    pub fn from_url(url: &str, timeout: Duration, pool_size: u32) -> anyhow::Result<Self> {
        if let Some(dir) = url.strip_prefix("file://") {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("SMTP_URL: cannot create {dir}: {e}"))?;
            return Ok(Mailer::File(AsyncFileTransport::new(dir)));
        }
        let server = Server::from_url(url)
            // The URL may hold a password: name the setting, not the value.
            .map_err(|e| {
                anyhow::anyhow!(
                    "SMTP_URL: not a valid smtp://, smtps:// or file:// URL ({})",
                    redact(&e)
                )
            })?;
        Ok(Mailer::Smtp(SmtpPool::new(
            server,
            timeout,
            pool_size as usize,
        )))
    }

    pub async fn send(&self, message: Message) -> SendOutcome {
        match self {
            Mailer::File(t) => match t.send(message).await {
                Ok(id) => SendOutcome::Sent {
                    code: None,
                    detail: format!("written as {id}.eml"),
                },
                Err(e) => SendOutcome::Unreachable {
                    code: None,
                    detail: excerpt(&e.to_string()),
                },
            },
            Mailer::Smtp(pool) => match pool.send(message.envelope(), &message.formatted()).await {
                Ok(response) => SendOutcome::Sent {
                    code: code_of(&response.code().to_string()),
                    detail: excerpt(&response.message().collect::<Vec<_>>().join(" ")),
                },
                Err(Failure::Unreachable(detail)) => SendOutcome::Unreachable {
                    code: None,
                    detail: excerpt(&detail),
                },
                Err(Failure::TimedOut { connecting: true }) => SendOutcome::Unreachable {
                    code: None,
                    detail: "connection timed out".into(),
                },
                Err(Failure::Session(e)) => {
                    let code = e.status().and_then(|c| code_of(&c.to_string()));
                    let detail = excerpt(&format!("the relay refused the session: {e}"));
                    metrics::counter!("herald_smtp_session_refusals_total").increment(1);
                    tracing::warn!(
                        smtp_code = code,
                        detail,
                        "the SMTP relay refuses sessions; emails wait until it accepts"
                    );
                    SendOutcome::Unreachable { code, detail }
                }
                Err(Failure::TimedOut { connecting: false }) => SendOutcome::Transient {
                    code: None,
                    detail: "timed out waiting for the server".into(),
                },
                Err(Failure::Smtp(e)) => {
                    let (code, detail) = (
                        e.status().and_then(|c| code_of(&c.to_string())),
                        excerpt(&e.to_string()),
                    );
                    if e.is_permanent() {
                        SendOutcome::Permanent { code, detail }
                    } else if e.is_transient() || e.is_timeout() {
                        SendOutcome::Transient { code, detail }
                    } else {
                        SendOutcome::Unreachable { code, detail }
                    }
                }
            },
        }
    }
}

fn code_of(text: &str) -> Option<u16> {
    text.get(..3)?.parse().ok()
}

/// A reply or an error as it is recorded: bounded, no control characters.
fn excerpt(text: &str) -> String {
    crate::store::recordable(text, 1024)
}

fn redact(message: &str) -> String {
    if message.contains('@') {
        "details withheld".into()
    } else {
        message.to_owned()
    }
}
