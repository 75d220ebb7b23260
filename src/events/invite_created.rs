use super::invite_email::InviteEmail;
use super::{Context, Meta, invite_resent, parse_data};
use crate::domain::{EmailAddress, ExpiresAt, Id, Locale, Metadata, Name, Role, Token};
use crate::error::{HandleError, Rejection};
use crate::store::{EmailTemplate, NewEmail, insert_email};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::PgConnection;
use std::collections::HashMap;

#[derive(Debug)]
pub struct InviteCreated {
    pub id: Id,
    pub email: EmailAddress,
    pub role: Option<Role>,
    pub token: Option<Token>,
    pub expires_at: Option<ExpiresAt>,
    pub first_name: Option<Name>,
    pub invited_by: Option<Name>,
    pub locale: Option<Locale>,
    pub metadata: Metadata,
}

/// `data` as sent: `email` or Medusa v1's `user_email`, either may be given.
#[derive(Deserialize)]
struct Data {
    id: Id,
    email: Option<EmailAddress>,
    user_email: Option<EmailAddress>,
    role: Option<Role>,
    token: Option<Token>,
    expires_at: Option<ExpiresAt>,
    first_name: Option<Name>,
    invited_by: Option<Name>,
    locale: Option<Locale>,
    metadata: Option<Metadata>,
}

impl InviteCreated {
    pub fn parse(event_type: &str, data: Map<String, Value>) -> Result<Self, Rejection> {
        let given = |key: &str| data.get(key).is_some_and(|v| !v.is_null());
        if !given("email") && !given("user_email") {
            // Medusa v2's workflows emit `invite.created` as `{id}` alone.
            return Err(Rejection::new(format!(
                "{event_type} data: missing field `email`, so no invite can be sent: Medusa v2 \
                 emits invites as {{id}} only, and Herald's Medusa plugin (integrations/medusa) \
                 adds the email, token and expiry before publishing"
            )));
        }
        let d: Data = parse_data(event_type, data)?;
        Ok(Self {
            id: d.id,
            email: d.email.or(d.user_email).expect("checked above"),
            role: d.role,
            token: d.token,
            expires_at: d.expires_at,
            first_name: d.first_name,
            invited_by: d.invited_by,
            locale: d.locale,
            metadata: d.metadata.unwrap_or_default(),
        })
    }

    /// Records the invite with a fresh token (or the one given upstream) and
    /// queues its email. For an invite id Herald already holds, see `held`.
    pub async fn apply(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let row = self.row(meta, ctx);
        let inserted = insert_all(conn, std::slice::from_ref(&row)).await?;
        if inserted.is_empty() {
            return self.held(conn, meta, ctx).await;
        }
        insert_email(conn, &ctx.key, row.email(meta)).await?;
        Ok(())
    }

    /// The invite's row: its token (minted unless given) and expiry.
    pub(super) fn row<'a>(&'a self, meta: &Meta<'_>, ctx: &Context) -> InviteRow<'a> {
        InviteRow {
            invite: self,
            token: self.token.clone().unwrap_or_else(Token::mint),
            expires_at: self
                .expires_at
                .map_or_else(|| meta.time.max(Utc::now()) + ctx.invite_ttl, ExpiresAt::at),
        }
    }

    /// An invite Herald already holds. Medusa v1 resends an invite by
    /// emitting `invite.created` again with the same id and a new token, so a
    /// different given token is a resend; the same token, or none, is a
    /// repeat that changes nothing.
    pub(super) async fn held(
        &self,
        conn: &mut PgConnection,
        meta: &Meta<'_>,
        ctx: &Context,
    ) -> Result<(), HandleError> {
        let Some(token) = &self.token else {
            tracing::info!(invite.id = %self.id.as_str(), "invite already recorded; nothing to send");
            return Ok(());
        };
        let same: bool = sqlx::query_scalar("SELECT token_hash = $2 FROM invites WHERE id = $1")
            .bind(self.id.as_str())
            .bind(token.hash().as_bytes())
            .fetch_one(&mut *conn)
            .await?;
        if same {
            tracing::info!(invite.id = %self.id.as_str(), "invite already recorded with this token; nothing to send");
            return Ok(());
        }
        invite_resent::resend(
            conn,
            meta,
            ctx,
            &self.id,
            Some(token.clone()),
            self.expires_at,
        )
        .await
    }
}

/// An invite about to be recorded, with what its email needs.
pub(super) struct InviteRow<'a> {
    pub invite: &'a InviteCreated,
    pub token: Token,
    pub expires_at: DateTime<Utc>,
}

impl<'a> InviteRow<'a> {
    /// Its email's outbox row.
    pub fn email<'m>(&'m self, meta: &Meta<'m>) -> NewEmail<'m> {
        let i = self.invite;
        let data = InviteEmail {
            invite_id: i.id.as_str(),
            email: i.email.as_str(),
            role: i.role.map(Role::as_str),
            first_name: i.first_name.as_ref().map(Name::as_str),
            invited_by: i.invited_by.as_ref().map(Name::as_str),
            expires_at: self.expires_at,
        }
        .data();
        let locale = i.locale.as_ref().map(Locale::as_str);
        meta.email(
            EmailTemplate::Invite,
            &i.email,
            locale,
            data,
            Some(&self.token),
        )
    }
}

/// Records the invites in one statement; returns, for each invite that was
/// new, its fields as a webhook shows them (`expired` for a pending invite
/// already past its expiry). Ids already held are left out.
pub(super) async fn insert_all<'r>(
    conn: &mut PgConnection,
    rows: &'r [InviteRow<'r>],
) -> sqlx::Result<HashMap<String, Map<String, Value>>> {
    let col = |f: fn(&'r InviteRow<'r>) -> Option<&'r str>| rows.iter().map(f).collect::<Vec<_>>();
    let ids = col(|r| Some(r.invite.id.as_str()));
    let emails = col(|r| Some(r.invite.email.as_str()));
    let roles = col(|r| r.invite.role.map(Role::as_str));
    let first_names = col(|r| r.invite.first_name.as_ref().map(Name::as_str));
    let invited_by = col(|r| r.invite.invited_by.as_ref().map(Name::as_str));
    let locales = col(|r| r.invite.locale.as_ref().map(Locale::as_str));
    let hashes: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| r.token.hash().as_bytes().to_vec())
        .collect();
    let metadata: Vec<Value> = rows
        .iter()
        .map(|r| r.invite.metadata.clone().into_value())
        .collect();
    let expiries: Vec<DateTime<Utc>> = rows.iter().map(|r| r.expires_at).collect();
    let inserted: Vec<(String, Value)> = sqlx::query_as(
        "INSERT INTO invites (id, email, named_role, token_hash, first_name, invited_by, locale, metadata, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[],
                              $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[])
         ON CONFLICT (id) DO NOTHING
         RETURNING id, jsonb_build_object(
             'id', id, 'email', email, 'role', role,
             'status', CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END,
             'expires_at', expires_at)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&roles)
    .bind(&hashes)
    .bind(&first_names)
    .bind(&invited_by)
    .bind(&locales)
    .bind(&metadata)
    .bind(&expiries)
    .fetch_all(conn)
    .await?;
    Ok(inserted
        .into_iter()
        .filter_map(|(id, fields)| match fields {
            Value::Object(map) => Some((id, map)),
            _ => None,
        })
        .collect())
}
