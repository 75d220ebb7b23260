//! A prefetch window of events applied in one PostgreSQL transaction: each
//! event under its own savepoint, so one the database refuses is rolled back
//! alone and dead-lettered while the others commit, with one commit for all.
//!
//! Should the commit itself be refused for anything but a passing fault (a
//! deferred check, say), the window is applied again one event per
//! transaction, so the refusal lands on the event that caused it.

use crate::error::{self, HandleError, Rejection};
use crate::events::{self, Context, Envelope, Event, Meta, Outcome};
use sqlx::{Acquire, PgConnection, PgPool};

/// An event as it came off the queue: parsed, or why it cannot be.
pub type Parsed = Result<(Envelope, Event), Rejection>;

/// What became of each event of a window, in order.
pub type Outcomes = Vec<Result<Outcome, Rejection>>;

/// Applies every parsed event in order and commits. Returns one outcome per
/// item, in order. `Err` is a passing fault: the window may be tried again
/// whole (what did commit is skipped then by the dedupe).
pub async fn apply(pool: &PgPool, ctx: &Context, items: &[Parsed]) -> anyhow::Result<Outcomes> {
    match apply_together(pool, ctx, items).await {
        Ok(outcomes) => Ok(outcomes),
        Err(Refused::Passing(e)) => Err(e),
        Err(Refused::Commit(reason)) => {
            tracing::warn!(
                reason,
                events = items.len(),
                "the window's commit was refused; applying its events one at a time"
            );
            apply_each(pool, ctx, items).await
        }
    }
}

enum Refused {
    Passing(anyhow::Error),
    /// The commit was refused for the content of some event in the window.
    Commit(String),
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::Passing(e.into())
    }
}

async fn apply_together(
    pool: &PgPool,
    ctx: &Context,
    items: &[Parsed],
) -> Result<Outcomes, Refused> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let (envelope, event) = match item {
            Ok(parsed) => parsed,
            Err(rejection) => {
                outcomes.push(Err(rejection.clone()));
                continue;
            }
        };
        let mut savepoint = (&mut *tx).begin().await?;
        match apply_one(&mut savepoint, ctx, envelope, event).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                outcomes.push(Ok(outcome));
            }
            Err(HandleError::Reject(rejection)) => {
                // Fails on a lost connection: then the whole window waits.
                savepoint.rollback().await?;
                outcomes.push(Err(rejection));
            }
            Err(HandleError::Transient(e)) => return Err(Refused::Passing(e)),
        }
    }
    match tx.commit().await {
        Ok(()) => Ok(outcomes),
        Err(e) if error::is_passing(&e) => Err(Refused::Passing(e.into())),
        Err(e) => Err(Refused::Commit(error::refusal(&e))),
    }
}

/// The fallback: each event in a transaction of its own.
async fn apply_each(pool: &PgPool, ctx: &Context, items: &[Parsed]) -> anyhow::Result<Outcomes> {
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let outcome = match item {
            Err(rejection) => Err(rejection.clone()),
            Ok((envelope, event)) => match apply_alone(pool, ctx, envelope, event).await {
                Ok(outcome) => Ok(outcome),
                Err(HandleError::Reject(rejection)) => Err(rejection),
                Err(HandleError::Transient(e)) => return Err(e),
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// One event: its id recorded, its effects, and its webhook rows.
async fn apply_one(
    conn: &mut PgConnection,
    ctx: &Context,
    envelope: &Envelope,
    event: &Event,
) -> Result<Outcome, HandleError> {
    let meta = Meta::of(envelope);
    let outcome = events::apply(conn, ctx, &meta, event).await?;
    if outcome == Outcome::Processed {
        crate::webhooks::fan_out(conn, &meta).await?;
    }
    Ok(outcome)
}

/// One event in a transaction of its own.
async fn apply_alone(
    pool: &PgPool,
    ctx: &Context,
    envelope: &Envelope,
    event: &Event,
) -> Result<Outcome, HandleError> {
    let mut tx = pool.begin().await?;
    let outcome = apply_one(&mut tx, ctx, envelope, event).await?;
    tx.commit().await?;
    Ok(outcome)
}
