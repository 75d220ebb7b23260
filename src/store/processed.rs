use crate::domain::EventId;
use sqlx::PgConnection;

/// Records the event id inside the event's own transaction. `false` means it
/// was already recorded: the event's effects are committed, so it is skipped.
/// Records every id of a window in one statement; returns those that are
/// new (each once, however often it appears in `events`).
pub async fn record_events(
    conn: &mut PgConnection,
    events: &[(&EventId, &str)],
) -> sqlx::Result<std::collections::HashSet<String>> {
    let ids: Vec<&str> = events.iter().map(|(id, _)| id.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|(_, ty)| *ty).collect();
    let new: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (event_id, event_type)
         SELECT DISTINCT ON (id) id, ty FROM unnest($1::text[], $2::text[]) AS e(id, ty)
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id",
    )
    .bind(&ids)
    .bind(&types)
    .fetch_all(conn)
    .await?;
    Ok(new.into_iter().collect())
}

pub async fn record_event(
    conn: &mut PgConnection,
    id: &EventId,
    event_type: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO processed_events (event_id, event_type) VALUES ($1, $2)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(event_type)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
