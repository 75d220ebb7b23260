//! The email dispatcher: woken when outbox rows are committed, claims due
//! rows in short transactions (lease, `SKIP LOCKED`, so replicas share the
//! work), renders and sends each outside any transaction with bounded
//! concurrency, and records how it went. The statements are
//! `store::email_outbox`'s; what each attempt means, and when to try
//! again, is decided here.

use super::mailer::{Mailer, SendOutcome};
use super::rate_limit;
use super::{Templates, message, render_context};
use crate::settings::{RateLimit, Schedule, Settings};
use crate::store::email_outbox::{
    self, Attempt, Claimed, EmailStatus, EmailTemplate, Next, Record, Unreadable,
};
use crate::store::recorder::{Recorder, WriteBatch};
use crate::store::runner::{self, Dispatch};
use crate::store::wake::Wake;
use crate::store::{EMAIL_WAKE_CHANNEL, OpenError, Place, SecretKey};
use lettre::message::Mailbox;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// How often due rows are looked for when no new outbox row wakes the
/// dispatcher (retries coming due, other replicas' rows, a lost listener).
const POLL: Duration = Duration::from_millis(250);
/// Longest wait between tries while the SMTP server cannot be reached.
const UNREACHABLE_MAX_DELAY: Duration = Duration::from_secs(30);
/// Longest wait between tries of an email no configured key opens.
const UNDECRYPTABLE_MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct EmailSettings {
    pub from: Mailbox,
    pub link_base: String,
    pub schedule: Schedule,
    pub rate_limit: RateLimit,
    pub concurrency: usize,
    /// Outlives any one send (SMTP timeout twice over), so only a dead
    /// worker's rows are taken over.
    pub lease: Duration,
    /// How often due rows are looked for without a wake-up.
    pub poll: Duration,
}

impl EmailSettings {
    pub fn from_settings(s: &Settings) -> anyhow::Result<Self> {
        let from = s
            .mail_from
            .parse()
            .map_err(|e| anyhow::anyhow!("HERALD_MAIL_FROM: not a valid mailbox ({e})"))?;
        Ok(Self {
            from,
            link_base: s.rendering.link_base_url.clone(),
            schedule: s.email_retry_schedule.clone(),
            rate_limit: s.email_rate_limit,
            concurrency: usize::from(s.email_concurrency),
            lease: s.smtp_timeout * 2 + Duration::from_secs(1),
            poll: POLL,
        })
    }
}

pub struct EmailDispatcher {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub templates: Templates,
    pub key: SecretKey,
    pub settings: EmailSettings,
}

impl EmailDispatcher {
    /// Runs until `cancel`, then lets the sends in flight finish.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> anyhow::Result<()> {
        let wake = Wake::listen(&self.pool, EMAIL_WAKE_CHANNEL, self.settings.poll).await;
        let concurrency = self.settings.concurrency;
        let writer = Records(self.pool.clone());
        let (recorder, recording) =
            Recorder::start("recording email attempts", writer, cancel.clone());
        let running = Arc::new(Running {
            emails: self,
            recorder,
        });
        runner::run(running, concurrency, wake, cancel).await;
        // Every send has handed in its record; the recorder ends once written.
        recording.await?;
        Ok(())
    }

    async fn send_and_record(&self, row: Claimed, recorder: &Recorder<Record>) {
        let span = tracing::info_span!("email", outbox.id = %row.id, template = %row.template, attempt = row.attempts);
        async {
            let (attempt, next) = self.attempt(&row).await;
            let counter = match &next {
                Next::Finish { status } => match status {
                    EmailStatus::Sent => "sent",
                    EmailStatus::Dropped => "rate_limited",
                    EmailStatus::Expired => "expired",
                    EmailStatus::Failed | EmailStatus::Pending => "failed",
                },
                Next::Retry { .. } => "retried",
            };
            metrics::counter!("herald_emails_total", "outcome" => counter).increment(1);
            if matches!(
                next,
                Next::Finish {
                    status: EmailStatus::Sent
                }
            ) {
                let age = (chrono::Utc::now() - row.event_time)
                    .to_std()
                    .unwrap_or_default();
                metrics::histogram!("herald_event_to_email_seconds").record(age.as_secs_f64());
                tracing::info!("email sent");
            } else {
                tracing::warn!(outcome = counter, detail = %attempt.detail, "email not sent");
            }
            recorder
                .record(Record {
                    id: row.id,
                    attempt_no: row.attempts,
                    attempt,
                    next,
                })
                .await;
        }
        .instrument(span)
        .await
    }

    /// A row this Herald cannot read ends at once, as `failed` (or
    /// `expired`, as any row whose link no longer works): it could never be
    /// sent, and is not claimed again.
    async fn record_unreadable(&self, row: Unreadable, recorder: &Recorder<Record>) {
        let (counter, (attempt, next)) = match row.expired {
            Some(why) => (
                "expired",
                finish("expired", None, why, EmailStatus::Expired),
            ),
            None => (
                "failed",
                finish("invalid", None, row.why, EmailStatus::Failed),
            ),
        };
        metrics::counter!("herald_emails_total", "outcome" => counter).increment(1);
        tracing::warn!(outbox.id = %row.id, attempt = row.attempts, outcome = counter,
            detail = %attempt.detail, "email not sent: its row cannot be read");
        recorder
            .record(Record {
                id: row.id,
                attempt_no: row.attempts,
                attempt,
                next,
            })
            .await;
    }

    async fn attempt(&self, row: &Claimed) -> (Attempt, Next) {
        // A link that no longer works is never sent, whatever held it back.
        if let Some(why) = &row.expired {
            return finish("expired", None, why.clone(), EmailStatus::Expired);
        }
        let place = Place::Email {
            row: row.id,
            recipient: &row.recipient,
            template: row.template,
        };
        let token = match &row.token_sealed {
            Some(sealed) => match self.key.open_token(sealed, &place) {
                Ok(token) => Some(token),
                // The key that sealed it is missing (a rotation without
                // HERALD_SECRET_KEY_PREVIOUS, a replica with the wrong key):
                // the email waits, token kept, until that key is configured.
                Err(e @ OpenError::NoKey) => {
                    metrics::counter!("herald_emails_undecryptable_total").increment(1);
                    tracing::error!(outbox.id = %row.id, "email waits: {e}");
                    let exp =
                        Duration::from_millis(200).saturating_mul(1 << row.attempts.clamp(0, 16));
                    let next = Next::Retry {
                        delay: jitter(exp.min(UNDECRYPTABLE_MAX_DELAY)),
                        used_retry: false,
                    };
                    return (attempt("undecryptable", None, e.to_string()), next);
                }
                Err(e) => return finish("invalid", None, e.to_string(), EmailStatus::Failed),
            },
            None if row.template != EmailTemplate::Welcome => {
                return finish(
                    "invalid",
                    None,
                    "the email's token is gone".into(),
                    EmailStatus::Failed,
                );
            }
            None => None,
        };
        if row.over_limit {
            let detail = rate_limit::over_limit(self.settings.rate_limit, row.template);
            return finish("rate_limited", None, detail, EmailStatus::Dropped);
        }
        let token = token.as_ref().map(|t| t.expose());
        let ctx = render_context(
            row.template,
            &row.data,
            token,
            &self.settings.link_base,
            row.locale.as_deref(),
        );
        let rendered = match self
            .templates
            .render(row.template, row.locale.as_deref(), &ctx)
        {
            Ok(r) => r,
            Err(e) => return finish("invalid", None, e.to_string(), EmailStatus::Failed),
        };
        let encoding = self.mailer.encoding();
        let message = match message::build(
            &self.settings.from,
            &row.recipient,
            row.id,
            rendered,
            encoding,
        ) {
            Ok(m) => m,
            Err(e) => return finish("invalid", None, e, EmailStatus::Failed),
        };
        match self.mailer.send(message).await {
            SendOutcome::Sent { code, detail } => finish("sent", code, detail, EmailStatus::Sent),
            SendOutcome::Permanent { code, detail } => {
                finish("permanent", code, detail, EmailStatus::Failed)
            }
            SendOutcome::Transient { code, detail } => {
                match self.settings.schedule.0.get(row.retries_used as usize) {
                    Some(delay) => {
                        let next = Next::Retry {
                            delay: jitter(*delay),
                            used_retry: true,
                        };
                        (attempt("transient", code, detail), next)
                    }
                    None => finish("transient", code, detail, EmailStatus::Failed),
                }
            }
            SendOutcome::Unreachable { code, detail } => {
                let exp = Duration::from_millis(100).saturating_mul(1 << row.attempts.clamp(0, 16));
                let delay = jitter(exp.min(UNREACHABLE_MAX_DELAY));
                (
                    attempt("transient", code, detail),
                    Next::Retry {
                        delay,
                        used_retry: false,
                    },
                )
            }
        }
    }
}

/// The dispatcher while it runs, with the recorder its sends hand their
/// outcomes to.
struct Running {
    emails: Arc<EmailDispatcher>,
    recorder: Recorder<Record>,
}

impl Dispatch for Running {
    type Row = Result<Claimed, Unreadable>;
    const KIND: &'static str = "email";

    fn row_id(row: &Self::Row) -> Uuid {
        match row {
            Ok(row) => row.id,
            Err(row) => row.id,
        }
    }

    async fn claim(&self, limit: usize, held: &[Uuid]) -> sqlx::Result<Vec<Self::Row>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let emails = &self.emails;
        email_outbox::claim(
            &emails.pool,
            limit,
            emails.settings.lease,
            held,
            emails.settings.rate_limit,
        )
        .await
    }

    async fn deliver(&self, row: Self::Row, _cancel: CancellationToken) {
        match row {
            Ok(row) => self.emails.send_and_record(row, &self.recorder).await,
            Err(row) => self.emails.record_unreadable(row, &self.recorder).await,
        }
    }
}

/// Writes email attempts in batches.
struct Records(PgPool);

impl WriteBatch<Record> for Records {
    async fn write(&self, batch: &[Record]) -> sqlx::Result<()> {
        email_outbox::record_many(&self.0, batch).await
    }
}

fn attempt(outcome: &'static str, code: Option<u16>, detail: String) -> Attempt {
    Attempt {
        outcome,
        code,
        detail: crate::store::recordable(&detail, 1024),
    }
}

/// An attempt after which the row is final.
fn finish(
    outcome: &'static str,
    code: Option<u16>,
    detail: String,
    status: EmailStatus,
) -> (Attempt, Next) {
    (attempt(outcome, code, detail), Next::Finish { status })
}

/// ±10 %, so emails failing together do not retry in lockstep.
fn jitter(delay: Duration) -> Duration {
    let mut b = [0u8; 2];
    let _ = getrandom::getrandom(&mut b);
    let factor = 0.9 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.2;
    delay.mul_f64(factor)
}
