use crate::domain::EventId;
use sqlx::PgConnection;

/// Records the event id inside the event's own transaction. `false` means it
/// was already recorded: the event's effects are committed, so it is skipped.
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
