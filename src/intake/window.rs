//! The common case of a window: every event accepted, one transaction, no
//! savepoints, and a fixed number of statements whatever the window's size
//! when its events are of the set-based kinds (`events::apply_run`):
//! the ids in one statement, the subscribers read once, the invites, the
//! emails and the webhook deliveries one statement each, one NOTIFY. An
//! event of another kind is applied alone between two runs, in its place.

use super::batch::{Outcomes, Parsed, Refused, commit, refused};
use crate::error::HandleError;
use crate::events::{self, Context, Event, Forward, Meta, Outcome};
use crate::store;
use crate::webhooks::{self, Subscribers};
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;

pub(super) async fn apply_set(
    pool: &PgPool,
    ctx: &Context,
    items: &[Parsed],
) -> Result<Outcomes, Refused> {
    let mut tx = pool.begin().await?;
    let ids: Vec<_> = items
        .iter()
        .flatten()
        .map(|(envelope, _)| envelope.processed())
        .collect();
    let mut new = store::record_events(&mut tx, &ids).await.map_err(refused)?;
    let subscribers = Subscribers::load(&mut tx).await.map_err(refused)?;
    let mut outcomes = Vec::with_capacity(items.len());
    let mut run: Vec<(Meta<'_>, &Event)> = Vec::new();
    // The run's keys (`Event::run_key`), so a repeat is found without
    // rebuilding every key of the run for each event.
    let mut keys = HashSet::new();
    for item in items {
        let (envelope, event) = match item {
            Ok(parsed) => parsed,
            Err(rejection) => {
                outcomes.push(Err(rejection.clone()));
                continue;
            }
        };
        // The first of the window's deliveries with a new id applies it.
        if !new.remove(envelope.id.as_str()) {
            outcomes.push(Ok(Outcome::Duplicate));
            continue;
        }
        let meta = Meta::of(envelope);
        if event.runs_set_based() {
            let key = event.run_key();
            if key.as_ref().is_some_and(|key| keys.contains(key)) {
                flush(&mut tx, ctx, &mut run, &subscribers).await?;
                keys.clear();
            }
            keys.extend(key);
            run.push((meta, event));
        } else {
            flush(&mut tx, ctx, &mut run, &subscribers).await?;
            keys.clear();
            event.apply(&mut tx, &meta, ctx).await.map_err(handled)?;
            webhooks::fan_out(&mut tx, &meta, &subscribers)
                .await
                .map_err(refused)?;
        }
        outcomes.push(Ok(Outcome::Processed));
    }
    flush(&mut tx, ctx, &mut run, &subscribers).await?;
    commit(tx, &outcomes).await?;
    Ok(outcomes)
}

/// Applies the run gathered so far and forwards its events: the deliveries
/// of all in one statement, those of an invite already held after reading
/// it back.
async fn flush(
    conn: &mut PgConnection,
    ctx: &Context,
    run: &mut Vec<(Meta<'_>, &Event)>,
    subscribers: &Subscribers,
) -> Result<(), Refused> {
    if run.is_empty() {
        return Ok(());
    }
    let forwards = events::apply_run(conn, ctx, run).await.map_err(handled)?;
    let mut built = Vec::with_capacity(run.len());
    for ((meta, _), forward) in run.iter().zip(forwards) {
        match forward {
            Forward::Built(fields) => built.push((meta, fields)),
            Forward::Reread => webhooks::fan_out(conn, meta, subscribers)
                .await
                .map_err(refused)?,
        }
    }
    webhooks::fan_out_all(conn, &built, subscribers)
        .await
        .map_err(refused)?;
    run.clear();
    Ok(())
}

fn handled(e: HandleError) -> Refused {
    match e {
        HandleError::Reject(_) => Refused::Event,
        HandleError::Transient(e) => Refused::Passing(e),
    }
}
