use sqlx::PgConnection;
use uuid::Uuid;

/// One delivery of an event to an endpoint; its body is stored as it will
/// be sent, so every retry signs the same bytes.
pub struct NewDelivery<'a> {
    pub endpoint: Uuid,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub body: String,
}

/// Writes `rows` in one statement, in the caller's transaction; an event
/// already delivered to an endpoint (a redelivery) is skipped.
pub async fn insert(conn: &mut PgConnection, rows: &[NewDelivery<'_>]) -> sqlx::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let endpoints: Vec<Uuid> = rows.iter().map(|r| r.endpoint).collect();
    let event_ids: Vec<&str> = rows.iter().map(|r| r.event_id).collect();
    let types: Vec<&str> = rows.iter().map(|r| r.event_type).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[])
         ON CONFLICT (endpoint_id, event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&endpoints)
    .bind(&event_ids)
    .bind(&types)
    .bind(&bodies)
    .execute(conn)
    .await?;
    Ok(())
}
