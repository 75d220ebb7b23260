use super::{Context, Meta, parse_data};
use crate::domain::{EmailAddress, ExpiresAt, Id, Locale, Name, Token};
use crate::email::rate_limit;
use crate::error::{HandleError, Rejection};
use crate::store::email_outbox::within_limits;
use crate::store::{EmailTemplate, NewEmail, insert_dropped_email, insert_email};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// `user.password_reset` (Medusa v1) and `auth.password_reset` (Medusa v2).
#[derive(Debug)]
pub enum PasswordReset {
    /// An admin user's reset: Herald records its token and sends the email.
    User(UserReset),
    /// Another actor's (Medusa's `customer`, say): forwarded by webhook only,
    /// and nothing else in its data is read, so a store's customer resets
    /// never end as dead letters over fields Herald would not use.
    OtherActor(String),
}

#[derive(Debug)]
pub struct UserReset {
    pub email: EmailAddress,
    pub user_id: Option<Id>,
    pub first_name: Option<Name>,
    pub last_name: Option<Name>,
    pub token: Option<Token>,
    pub expires_at: Option<ExpiresAt>,
    pub locale: Option<Locale>,
}

/// `data` as sent. Medusa v2 names the address `entity_id` (the emailpass
/// provider's entity id is the address); when both are given, `email` wins.
#[derive(Deserialize)]
struct Data {
    email: Option<EmailAddress>,
    entity_id: Option<String>,
    user_id: Option<Id>,
    first_name: Option<Name>,
    last_name: Option<Name>,
    token: Option<Token>,
    expires_at: Option<ExpiresAt>,
    locale: Option<Locale>,
}

impl PasswordReset {
    pub fn parse(event_type: &str, data: Map<String, Value>) -> Result<Self, Rejection> {
        match actor_type(event_type, &data)? {
            Some(actor) if actor != "user" => return Ok(Self::OtherActor(actor.to_owned())),
            _ => {}
        }
        let d: Data = parse_data(event_type, data)?;
        let email = match (d.email, d.entity_id) {
            (Some(email), _) => email,
            (None, Some(entity_id)) => EmailAddress::parse(&entity_id)
                .map_err(|e| Rejection::new(format!("{event_type} data: entity_id: {e}")))?,
            (None, None) => {
                return Err(Rejection::new(format!(
                    "{event_type} data: missing field `email` (or Medusa's `entity_id`)"
                )));
            }
        };
        Ok(Self::User(UserReset {
            email,
            user_id: d.user_id,
            first_name: d.first_name,
            last_name: d.last_name,
            token: d.token,
            expires_at: d.expires_at,
            locale: d.locale,
        }))
    }

    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        match self {
            Self::User(reset) => reset.apply(conn, meta, ctx).await,
            Self::OtherActor(actor) => {
                tracing::info!(actor_type = %actor, "password reset for an actor Herald does not email; forwarded only");
                Ok(())
            }
        }
    }
}

/// Medusa 2.21 sends `actor_type`; earlier 2.x releases sent `actorType`.
/// Absent means a user (Medusa v1's `user.password_reset` carries none).
fn actor_type<'a>(
    event_type: &str,
    data: &'a Map<String, Value>,
) -> Result<Option<&'a str>, Rejection> {
    for key in ["actor_type", "actorType"] {
        match data.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::String(actor)) => return Ok(Some(actor)),
            Some(_) => {
                return Err(Rejection::new(format!(
                    "{event_type} data: {key}: expected a string"
                )));
            }
        }
    }
    Ok(None)
}

impl UserReset {
    /// Earlier unused tokens of the same address stop working; a new one is
    /// minted (or the upstream one taken), expiring at the given
    /// `expires_at` else after `HERALD_RESET_TTL`, and its email queued.
    /// Over the per-recipient email limit it changes nothing: the tokens
    /// already emailed keep working, and the request is kept as a dropped
    /// email, so whoever can trigger resets for an address cannot lock its
    /// owner out. (A run of resets does the same set-based: `apply_run`.)
    async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        if within_limits(conn, ctx.email_rate_limit, &[&self.email])
            .await?
            .is_empty()
        {
            return self.over_limit(conn, meta, ctx).await;
        }
        invalidate(conn, &[self.email.as_str()]).await?;
        let row = self.row(meta, ctx);
        insert_tokens(conn, std::slice::from_ref(&row)).await?;
        insert_email(conn, &ctx.key, row.email()).await?;
        Ok(())
    }

    /// Kept as a dropped email with why; nothing else changes.
    pub(super) async fn over_limit(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let limit = ctx.email_rate_limit;
        let detail = rate_limit::over_limit(limit, EmailTemplate::PasswordReset);
        let email = meta.email(
            EmailTemplate::PasswordReset,
            &self.email,
            self.locale.as_ref().map(Locale::as_str),
            self.email_data(None, None),
            None,
        );
        insert_dropped_email(conn, email, &detail).await?;
        metrics::counter!("herald_emails_total", "outcome" => "rate_limited").increment(1);
        tracing::warn!(event.id = %meta.envelope.id.as_str(), "{detail}: the reset changes nothing");
        Ok(())
    }

    /// Its token row: minted unless given, with its expiry.
    pub(super) fn row<'a>(&'a self, meta: &'a Meta<'a>, ctx: &Context) -> ResetRow<'a> {
        ResetRow {
            reset: self,
            meta,
            token: self.token.clone().unwrap_or_else(Token::mint),
            expires_at: self
                .expires_at
                .map_or_else(|| Utc::now() + ctx.reset_ttl, ExpiresAt::at),
        }
    }

    /// What the template needs, without the token.
    fn email_data(&self, user_id: Option<&str>, expires_at: Option<DateTime<Utc>>) -> Value {
        json!({
            "email": self.email,
            "user_id": user_id.or(self.user_id.as_ref().map(Id::as_str)),
            "first_name": self.first_name,
            "last_name": self.last_name,
            "expires_at": expires_at,
        })
    }
}

/// A reset token about to be recorded, with what its email needs.
pub(super) struct ResetRow<'a> {
    reset: &'a UserReset,
    meta: &'a Meta<'a>,
    token: Token,
    expires_at: DateTime<Utc>,
}

impl ResetRow<'_> {
    pub fn address(&self) -> &str {
        self.reset.email.as_str()
    }

    /// Its email, written with its slot of the limit taken.
    pub fn email(&self) -> NewEmail<'_> {
        let r = self.reset;
        let user_id = r.user_id.as_ref().map(Id::as_str);
        let mut email = self.meta.email(
            EmailTemplate::PasswordReset,
            &r.email,
            r.locale.as_ref().map(Locale::as_str),
            r.email_data(user_id, Some(self.expires_at)),
            Some(&self.token),
        );
        email.counted = true;
        email
    }
}

/// Earlier unused tokens of these addresses stop working.
pub(super) async fn invalidate(conn: &mut PgConnection, emails: &[&str]) -> sqlx::Result<()> {
    let lower: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
    sqlx::query(
        "UPDATE password_reset_tokens SET invalidated_at = now()
         WHERE lower(email) = ANY($1) AND used_at IS NULL AND invalidated_at IS NULL",
    )
    .bind(&lower)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tokens' rows (their hashes only), in one statement.
pub(super) async fn insert_tokens(
    conn: &mut PgConnection,
    rows: &[ResetRow<'_>],
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let emails: Vec<&str> = rows.iter().map(|r| r.reset.email.as_str()).collect();
    let users: Vec<Option<&str>> = rows
        .iter()
        .map(|r| r.reset.user_id.as_ref().map(Id::as_str))
        .collect();
    let hashes: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| r.token.hash().as_bytes().to_vec())
        .collect();
    let expiries: Vec<DateTime<Utc>> = rows.iter().map(|r| r.expires_at).collect();
    let events: Vec<&str> = rows.iter().map(|r| r.meta.envelope.id.as_str()).collect();
    sqlx::query(
        "INSERT INTO password_reset_tokens (id, email, user_id, token_hash, expires_at, event_id)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::text[])",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&users)
    .bind(&hashes)
    .bind(&expiries)
    .bind(&events)
    .execute(conn)
    .await?;
    Ok(())
}
