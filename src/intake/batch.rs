//! A prefetch window of events applied in one PostgreSQL transaction, with
//! one commit for all and a fixed number of statements besides each
//! event's own: the window's ids recorded in one statement, the webhook
//! subscribers read once, the dispatchers woken once.
//!
//! Should an event be refused, the window is rolled back and applied again
//! with a savepoint per event, so the refused one is rolled back alone and
//! dead-lettered while the others commit. Should the commit itself be
//! refused for anything but a passing fault (a deferred check, say), the
//! window is applied once more one event per transaction, so the refusal
//! lands on the event that caused it.

use super::window;
use crate::error::{self, HandleError, Rejection};
use crate::events::{self, Context, Envelope, Event, Meta, Outcome};
use crate::store::{self, wake};
use crate::webhooks::{self, Subscribers};
use sqlx::{Acquire, PgConnection, PgPool};

/// An event as it came off the queue: parsed, or why it cannot be.
pub type Parsed = Result<(Envelope, Event), Rejection>;

/// What became of each event of a window, in order.
pub type Outcomes = Vec<Result<Outcome, Rejection>>;

/// Applies every parsed event in order and commits. Returns one outcome per
/// item, in order. `Err` is a passing fault: the window may be tried again
/// whole (what did commit is skipped then by the dedupe).
pub async fn apply(pool: &PgPool, ctx: &Context, items: &[Parsed]) -> anyhow::Result<Outcomes> {
    let refused = match window::apply_set(pool, ctx, items).await {
        Ok(outcomes) => return Ok(outcomes),
        Err(Refused::Passing(e)) => return Err(e),
        Err(Refused::Event | Refused::Commit(_)) => {
            match apply_with_savepoints(pool, ctx, items).await {
                Ok(outcomes) => return Ok(outcomes),
                Err(Refused::Passing(e)) => return Err(e),
                Err(Refused::Event) => unreachable!("savepoints keep a refused event apart"),
                Err(Refused::Commit(reason)) => reason,
            }
        }
    };
    tracing::warn!(
        reason = refused,
        events = items.len(),
        "the window's commit was refused; applying its events one at a time"
    );
    apply_each(pool, ctx, items).await
}

pub(super) enum Refused {
    Passing(anyhow::Error),
    /// An event of the window was refused (only without savepoints).
    Event,
    /// The commit was refused for the content of some event in the window.
    Commit(String),
}

impl From<sqlx::Error> for Refused {
    fn from(e: sqlx::Error) -> Self {
        Refused::Passing(e.into())
    }
}

/// Without savepoints, any refusal but a passing fault sends the window to
/// the savepoint path, which finds the event it belongs to.
pub(super) fn refused(e: sqlx::Error) -> Refused {
    if error::is_passing(&e) {
        Refused::Passing(e.into())
    } else {
        Refused::Event
    }
}

/// The fallback: a savepoint per event.
async fn apply_with_savepoints(
    pool: &PgPool,
    ctx: &Context,
    items: &[Parsed],
) -> Result<Outcomes, Refused> {
    let mut tx = pool.begin().await?;
    let subscribers = Subscribers::load(&mut tx).await?;
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
        match apply_one(&mut savepoint, ctx, envelope, event, &subscribers).await {
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
    commit(tx, &outcomes).await?;
    Ok(outcomes)
}

/// Wakes the dispatchers (PostgreSQL sends it at commit) when something was
/// processed, then commits.
pub(super) async fn commit(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    outcomes: &Outcomes,
) -> Result<(), Refused> {
    if outcomes.contains(&Ok(Outcome::Processed)) {
        wake_dispatchers(&mut tx).await?;
    }
    match tx.commit().await {
        Ok(()) => Ok(()),
        Err(e) if error::is_passing(&e) => Err(Refused::Passing(e.into())),
        Err(e) => Err(Refused::Commit(error::refusal(&e))),
    }
}

async fn wake_dispatchers(conn: &mut PgConnection) -> sqlx::Result<()> {
    wake::notify(conn, store::EMAIL_WAKE_CHANNEL).await?;
    wake::notify(conn, webhooks::WAKE_CHANNEL).await
}

/// The last resort: each event in a transaction of its own.
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
    subscribers: &Subscribers,
) -> Result<Outcome, HandleError> {
    let meta = Meta::of(envelope);
    let outcome = events::apply(conn, ctx, &meta, event).await?;
    if outcome == Outcome::Processed {
        webhooks::fan_out(conn, &meta, subscribers).await?;
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
    let subscribers = Subscribers::load(&mut tx).await?;
    let outcome = apply_one(&mut tx, ctx, envelope, event, &subscribers).await?;
    if outcome == Outcome::Processed {
        wake_dispatchers(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(outcome)
}
