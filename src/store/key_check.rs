//! `herald keys check`: which configured key opens each sealed value (the
//! tokens of unsent emails, webhook endpoint secrets), so an operator can
//! tell when an old key may be dropped, or that a key is missing.

use super::{Place, SecretKey};
use sqlx::PgPool;
use uuid::Uuid;

/// How many sealed values each configured key opens, the current key first,
/// then `HERALD_SECRET_KEY_PREVIOUS` in order; and how many none opens.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyReport {
    pub ids: Vec<String>,
    pub opened: Vec<u64>,
    pub unopened: u64,
}

/// An endpoint's id, its secret and, during a grace period, the previous one.
type SealedSecrets = (Uuid, Option<Vec<u8>>, Option<Vec<u8>>);

pub async fn check(pool: &PgPool, key: &SecretKey) -> sqlx::Result<KeyReport> {
    let ids = key.ids();
    let mut report = KeyReport {
        opened: vec![0; ids.len()],
        ids,
        unopened: 0,
    };
    let mut tally = |result: Result<(usize, Vec<u8>), super::OpenError>| match result {
        Ok((i, _)) => report.opened[i] += 1,
        Err(_) => report.unopened += 1,
    };
    let emails: Vec<(Uuid, String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, recipient, template, token_sealed FROM email_outbox WHERE token_sealed IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    for (row, recipient, template, sealed) in &emails {
        // A row this Herald cannot read is never opened: its claim fails
        // it and erases the token, whichever key sealed it.
        let Ok((template, recipient)) = super::email_outbox::read_names(template, recipient) else {
            continue;
        };
        let place = Place::Email {
            row: *row,
            recipient: &recipient,
            template,
        };
        tally(key.open(sealed, &place));
    }
    let endpoints: Vec<SealedSecrets> = sqlx::query_as(
        "SELECT id, secret_sealed,
                CASE WHEN previous_secret_until > now() THEN previous_secret_sealed END
         FROM webhook_endpoints",
    )
    .fetch_all(pool)
    .await?;
    for (id, current, previous) in &endpoints {
        for sealed in current.iter().chain(previous) {
            tally(key.open(sealed, &Place::Endpoint { id: *id }));
        }
    }
    Ok(report)
}

impl std::fmt::Display for KeyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (id, n)) in self.ids.iter().zip(&self.opened).enumerate() {
            let name = if i == 0 {
                "HERALD_SECRET_KEY".to_owned()
            } else {
                format!("HERALD_SECRET_KEY_PREVIOUS #{i}")
            };
            writeln!(f, "{name} (id {id}): opens {n}")?;
        }
        write!(f, "no configured key: {}", self.unopened)
    }
}
