//! Reading the email outbox for operators: a page of emails by recipient,
//! status and template, one email with every attempt, and an event's emails;
//! and what a resend needs of the email it repeats. Shared by the API, the
//! CLI and the console.
//!
//! An operator sees every row as stored, the template and recipient as
//! text: a row this Herald cannot read (written by another version) still
//! lists, with the attempt that failed it.

use super::{EmailStatus, EmailTemplate};
use crate::domain::EmailAddress;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

const SELECT: &str = "SELECT id, event_id, template, recipient, status, locale,
        attempts AS attempt_count, last_error, created_at,
        CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, finished_at
    FROM email_outbox";

/// One email as operators see it: never its token or its template data.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct Email {
    pub id: Uuid,
    /// The event that caused it (`resend-…` for an operator's resend).
    pub event_id: String,
    /// invite, password_reset or welcome.
    pub template: String,
    pub recipient: String,
    pub status: EmailStatus,
    pub locale: Option<String>,
    /// Attempts made so far.
    pub attempt_count: i32,
    /// Why the last attempt did not send it.
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// While pending: when it is tried next.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One SMTP attempt.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, ToSchema)]
pub struct EmailAttempt {
    #[serde(skip)]
    pub outbox_id: Uuid,
    /// 1 for the first.
    pub attempt: i32,
    pub at: DateTime<Utc>,
    /// sent, transient, permanent, rate_limited, invalid, undecryptable, …
    pub outcome: String,
    /// The SMTP server's reply code, when it answered.
    pub smtp_code: Option<i32>,
    /// The server's reply, or why no reply came.
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EmailWithAttempts {
    #[serde(flatten)]
    pub email: Email,
    /// Oldest first.
    pub attempts: Vec<EmailAttempt>,
}

/// What `list` selects; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Matched whole, ignoring case.
    pub recipient: Option<String>,
    pub status: Option<EmailStatus>,
    pub template: Option<EmailTemplate>,
    pub limit: i64,
    pub offset: i64,
}

/// A page of emails, newest first, and how many match in all.
pub async fn list(pool: &PgPool, filter: &Filter) -> sqlx::Result<(Vec<Email>, i64)> {
    if !filter
        .recipient
        .as_deref()
        .is_none_or(crate::store::matchable)
    {
        return Ok((Vec::new(), 0));
    }
    let template = filter.template.map(EmailTemplate::as_str);
    const WHERE: &str = "WHERE ($1::text IS NULL OR lower(recipient) = lower($1))
          AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR template = $3)";
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM email_outbox {WHERE}"
    )))
    .bind(&filter.recipient)
    .bind(filter.status)
    .bind(template)
    .fetch_one(pool)
    .await?;
    let emails = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} {WHERE} ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    )))
    .bind(&filter.recipient)
    .bind(filter.status)
    .bind(template)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await?;
    Ok((emails, count))
}

/// One email with its attempts.
pub async fn get(pool: &PgPool, id: Uuid) -> sqlx::Result<Option<EmailWithAttempts>> {
    let email: Option<Email> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    let Some(email) = email else {
        return Ok(None);
    };
    Ok(with_attempts(pool, vec![email]).await?.pop())
}

/// Every email an event caused, oldest first, with their attempts.
pub async fn for_event(pool: &PgPool, event_id: &str) -> sqlx::Result<Vec<EmailWithAttempts>> {
    let emails = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE event_id = $1 ORDER BY created_at, id"
    )))
    .bind(event_id)
    .fetch_all(pool)
    .await?;
    with_attempts(pool, emails).await
}

/// The email an event caused, inside a transaction (a resend reads back the
/// email it queued).
pub async fn first_of_event(
    conn: &mut PgConnection,
    event_id: &str,
) -> sqlx::Result<Option<Email>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE event_id = $1 ORDER BY created_at, id LIMIT 1"
    )))
    .bind(event_id)
    .fetch_optional(conn)
    .await
}

/// What a resend needs of the email it repeats: never its token.
#[derive(Debug, Clone)]
pub struct Original {
    pub status: EmailStatus,
    pub template: EmailTemplate,
    pub recipient: EmailAddress,
    pub locale: Option<String>,
    pub data: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct OriginalRow {
    status: EmailStatus,
    template: String,
    recipient: String,
    locale: Option<String>,
    data: serde_json::Value,
}

/// The email `id`, read; `Err` says why this Herald cannot read it (its
/// template or recipient).
pub async fn original(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<Result<Original, String>>> {
    let row: Option<OriginalRow> = sqlx::query_as(
        "SELECT status, template, recipient, locale, data FROM email_outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|row| {
        let (template, recipient) = super::read_names(&row.template, &row.recipient)?;
        Ok(Original {
            status: row.status,
            template,
            recipient,
            locale: row.locale,
            data: row.data,
        })
    }))
}

/// The latest attempt of any email: how the SMTP relay last answered.
pub async fn last_attempt(pool: &PgPool) -> sqlx::Result<Option<EmailAttempt>> {
    sqlx::query_as(
        "SELECT outbox_id, attempt, attempted_at AS at, outcome, smtp_code, detail AS reply
         FROM email_attempts ORDER BY attempted_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
}

async fn with_attempts(pool: &PgPool, emails: Vec<Email>) -> sqlx::Result<Vec<EmailWithAttempts>> {
    let ids: Vec<Uuid> = emails.iter().map(|e| e.id).collect();
    let attempts: Vec<EmailAttempt> = sqlx::query_as(
        "SELECT outbox_id, attempt, attempted_at AS at, outcome, smtp_code, detail AS reply
         FROM email_attempts WHERE outbox_id = ANY($1) ORDER BY attempted_at, id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(emails
        .into_iter()
        .map(|email| EmailWithAttempts {
            attempts: attempts
                .iter()
                .filter(|a| a.outbox_id == email.id)
                .cloned()
                .collect(),
            email,
        })
        .collect())
}
