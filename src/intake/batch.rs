//! A prefetch window of events applied in one PostgreSQL transaction: each
//! event under its own savepoint, so one the database refuses is rolled back
//! alone and dead-lettered while the others commit, with one commit for all.

use crate::error::{HandleError, Rejection};
use crate::events::{self, Context, Event, Outcome};
use crate::intake::Envelope;
use sqlx::{Acquire, PgPool};

/// An event as it came off the queue: parsed, or why it cannot be.
pub type Parsed = Result<(Envelope, Event), Rejection>;

/// Applies every parsed event in order, in one transaction, and commits.
/// Returns one outcome per item, in order. `Err` is a passing fault:
/// nothing was committed and the whole batch may be tried again.
pub async fn apply(
    pool: &PgPool,
    ctx: &Context,
    items: &[Parsed],
) -> anyhow::Result<Vec<Result<Outcome, Rejection>>> {
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
        match events::apply(&mut savepoint, ctx, envelope, event).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                outcomes.push(Ok(outcome));
            }
            Err(HandleError::Reject(rejection)) => {
                savepoint.rollback().await?;
                outcomes.push(Err(rejection));
            }
            Err(HandleError::Transient(e)) => return Err(e),
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}
