use crate::domain::EventId;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What the dedupe keeps of an event: its id and type, and for the delivery
/// log its own time and, for invite events, the invite id.
#[derive(Clone, Copy, Debug)]
pub struct ProcessedEvent<'a> {
    pub id: &'a EventId,
    pub event_type: &'a str,
    pub time: Option<DateTime<Utc>>,
    pub invite_id: Option<&'a str>,
}

/// Records every id of a window in one statement, inside the window's
/// transaction; returns those that are new (each once, however often it
/// appears in `events`). An id already recorded has its effects committed,
/// so it is skipped.
pub async fn record_events(
    conn: &mut PgConnection,
    events: &[ProcessedEvent<'_>],
) -> sqlx::Result<std::collections::HashSet<String>> {
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let times: Vec<Option<DateTime<Utc>>> = events.iter().map(|e| e.time).collect();
    let invites: Vec<Option<&str>> = events.iter().map(|e| e.invite_id).collect();
    let new: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (event_id, event_type, event_time, invite_id)
         SELECT DISTINCT ON (id) id, ty, at, invite
         FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) AS e(id, ty, at, invite)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&times)
    .bind(&invites)
    .fetch_all(conn)
    .await?;
    Ok(new.into_iter().collect())
}

/// One event's id; `false` when it was already recorded.
pub async fn record_event(
    conn: &mut PgConnection,
    event: ProcessedEvent<'_>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (event_id, event_type, event_time, invite_id)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event.id.as_str())
    .bind(event.event_type)
    .bind(event.time)
    .bind(event.invite_id)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
