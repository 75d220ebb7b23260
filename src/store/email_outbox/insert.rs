//! Writing emails to send: in the event's transaction, one statement for a
//! whole run (intake counts its statements), and a dropped email kept with
//! why.

use super::{EmailOutcome, EmailStatus, EmailTemplate};
use crate::domain::{EmailAddress, EventId, Token};
use crate::store::SecretKey;
use crate::store::announce::announce;
use crate::store::secret_key::Place;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// One email to send. `data` is what the template needs, without the token;
/// the token travels sealed beside it.
pub struct NewEmail<'a> {
    pub event_id: &'a EventId,
    pub event_time: DateTime<Utc>,
    pub template: EmailTemplate,
    pub recipient: &'a EmailAddress,
    pub locale: Option<&'a str>,
    pub data: serde_json::Value,
    pub token: Option<&'a Token>,
    /// Takes its slot of the recipient's limit as it is written (a reset,
    /// whose intake checked the limit); otherwise when first claimed.
    pub counted: bool,
}

/// An email that will not be sent because its recipient is over the rate
/// limit: kept as `dropped`, with its `rate_limited` attempt, so operators
/// see it in `email_outbox` and `email_attempts`. It holds no token.
/// `email.failed` (status `dropped`) is announced with it.
pub async fn insert_dropped_email(
    conn: &mut PgConnection,
    email: NewEmail<'_>,
    detail: &str,
) -> sqlx::Result<Uuid> {
    let id = Uuid::now_v7();
    let (event_id, template, recipient) = (email.event_id, email.template, email.recipient);
    insert_row(conn, id, email, None, Some(detail)).await?;
    sqlx::query(
        "INSERT INTO email_attempts (outbox_id, attempt, outcome, detail) VALUES ($1, 1, 'rate_limited', $2)",
    )
    .bind(id)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    let outcome = EmailOutcome {
        id,
        event_id: event_id.as_str().to_owned(),
        template: template.as_str().to_owned(),
        recipient: recipient.as_str().to_owned(),
        status: EmailStatus::Dropped,
        attempts: 1,
        smtp_code: None,
    };
    announce(conn, &[outcome.announcement()]).await?;
    Ok(id)
}

/// An email to send, its token sealed to this row. The caller wakes the
/// dispatcher once for its whole transaction.
pub async fn insert_email(
    conn: &mut PgConnection,
    key: &SecretKey,
    email: NewEmail<'_>,
) -> sqlx::Result<Uuid> {
    let ids = insert_emails(conn, key, vec![email]).await?;
    Ok(ids[0])
}

/// Many emails to send in one statement, each token sealed to its row; the
/// ids in the order given.
pub async fn insert_emails(
    conn: &mut PgConnection,
    key: &SecretKey,
    emails: Vec<NewEmail<'_>>,
) -> sqlx::Result<Vec<Uuid>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let n = emails.len();
    let (mut ids, mut events, mut times, mut templates) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut recipients, mut locales, mut data, mut sealed, mut counted) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for email in emails {
        let id = Uuid::now_v7();
        let place = Place::Email {
            row: id,
            recipient: email.recipient,
            template: email.template,
        };
        sealed.push(email.token.map(|t| key.seal_token(t, &place)));
        ids.push(id);
        events.push(email.event_id.as_str());
        times.push(email.event_time);
        templates.push(email.template.as_str());
        recipients.push(email.recipient.as_str());
        locales.push(email.locale);
        data.push(email.data);
        counted.push(email.counted);
    }
    sqlx::query(
        "INSERT INTO email_outbox (id, event_id, event_time, template, recipient, locale, data,
                                   token_sealed, counted_at)
         SELECT id, ev, t, tpl, r, l, d, s, CASE WHEN c THEN now() END
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::text[], $7::jsonb[], $8::bytea[], $9::bool[]) AS e(id, ev, t, tpl, r, l, d, s, c)",
    )
    .bind(&ids)
    .bind(&events)
    .bind(&times)
    .bind(&templates)
    .bind(&recipients)
    .bind(&locales)
    .bind(&data)
    .bind(&sealed)
    .bind(&counted)
    .execute(&mut *conn)
    .await?;
    Ok(ids)
}

/// The outbox row: `pending` with its sealed token, or `dropped` (final,
/// one attempt) with why.
async fn insert_row(
    conn: &mut PgConnection,
    id: Uuid,
    email: NewEmail<'_>,
    sealed: Option<Vec<u8>>,
    dropped: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_outbox (id, event_id, event_time, template, recipient, locale, data,
                                   token_sealed, status, attempts, last_error, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 CASE WHEN $9::text IS NULL THEN 'pending' ELSE 'dropped' END,
                 CASE WHEN $9::text IS NULL THEN 0 ELSE 1 END,
                 $9, CASE WHEN $9::text IS NULL THEN NULL ELSE now() END)",
    )
    .bind(id)
    .bind(email.event_id.as_str())
    .bind(email.event_time)
    .bind(email.template.as_str())
    .bind(email.recipient.as_str())
    .bind(email.locale)
    .bind(email.data)
    .bind(sealed)
    .bind(dropped)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
