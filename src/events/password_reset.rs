use super::{Context, Meta, parse_data};
use crate::domain::{EmailAddress, ExpiresAt, Id, Locale, Name, Token};
use crate::email::rate_limit;
use crate::error::{HandleError, Rejection};
use crate::store::{EmailTemplate, insert_dropped_email, insert_email};
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
    /// owner out.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let limit = ctx.email_rate_limit;
        if !rate_limit::within_limit(conn, limit, self.email.as_str()).await? {
            let detail = rate_limit::over_limit(limit, EmailTemplate::PasswordReset.name());
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
            return Ok(());
        }
        sqlx::query(
            "UPDATE password_reset_tokens SET invalidated_at = now()
             WHERE lower(email) = lower($1) AND used_at IS NULL AND invalidated_at IS NULL",
        )
        .bind(self.email.as_str())
        .execute(&mut *conn)
        .await?;
        let token = self.token.clone().unwrap_or_else(Token::mint);
        let expires_at = self
            .expires_at
            .map_or_else(|| Utc::now() + ctx.reset_ttl, ExpiresAt::at);
        let user_id = self.user_id.as_ref().map(Id::as_str);
        sqlx::query(
            "INSERT INTO password_reset_tokens (id, email, user_id, token_hash, expires_at, event_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(self.email.as_str())
        .bind(user_id)
        .bind(token.hash().as_bytes())
        .bind(expires_at)
        .bind(meta.envelope.id.as_str())
        .execute(&mut *conn)
        .await?;
        let email = meta.email(
            EmailTemplate::PasswordReset,
            &self.email,
            self.locale.as_ref().map(Locale::as_str),
            self.email_data(user_id, Some(expires_at)),
            Some(&token),
        );
        let id = insert_email(conn, &ctx.key, email).await?;
        rate_limit::counted_now(conn, id).await?;
        Ok(())
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
