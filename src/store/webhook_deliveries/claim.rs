use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::time::Duration;
use url::Url;
use uuid::Uuid;

/// The advisory lock webhook claims take turns under (any fixed number;
/// this one spells "herald" in ASCII).
const CLAIM_LOCK: i64 = 0x6865_7261_6c64;

/// What one claim may take.
pub struct Lease<'a> {
    pub limit: usize,
    /// Deliveries in flight per endpoint at most, across every replica.
    pub per_endpoint: i64,
    /// How long a claimed row stays this worker's.
    pub lasts: Duration,
    /// Rows this worker still holds, never claimed again meanwhile.
    pub held: &'a [Uuid],
}

/// A leased delivery with what sending it takes.
pub struct Leased {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub body: String,
    /// This attempt's number: the lease counted it.
    pub attempts: i32,
    pub url: Url,
    /// `None` only for a row written in clear by an older Herald, until the
    /// next start-up seals it. Opened by `webhooks`, which knows secrets.
    pub secret_sealed: Option<Vec<u8>>,
    /// The outgoing secret while a rotation's grace period lasts.
    pub previous_secret_sealed: Option<Vec<u8>>,
    /// When the event that caused it was committed.
    pub created_at: DateTime<Utc>,
}

/// A leased delivery whose row does not read as one (its endpoint's URL
/// was changed behind Herald's back, say): it is failed alone, with the
/// reason, and the rows claimed with it go on.
#[derive(Debug)]
pub struct Unreadable {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub attempts: i32,
    pub reason: String,
}

/// One claimed row, decoded or not.
pub type Claim = Result<Leased, Unreadable>;

/// Leases up to `limit` due deliveries of enabled endpoints, at most
/// `per_endpoint` in flight per endpoint across every replica: claims
/// take turns under one advisory lock, so each counts the live leases of
/// the claims before it. Locked rows are skipped, so replicas never claim
/// the same row, and so are the `held` ones. Columns are read as they are
/// stored and decoded row by row afterwards.
pub async fn claim(pool: &PgPool, lease: &Lease<'_>) -> sqlx::Result<Vec<Claim>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CLAIM_LOCK)
        .execute(&mut *tx)
        .await?;
    // The due rows are picked once, in a MATERIALIZED CTE: as a subquery
    // joined to the UPDATE, PostgreSQL may scan them again, and a second scan
    // skips the rows this statement already leased and takes the next ones,
    // so the claim returned more rows than asked (seen in the bench).
    let rows: Vec<Row> = sqlx::query_as(
        "WITH in_flight AS (
             SELECT endpoint_id, count(*) AS n FROM webhook_deliveries
             WHERE status = 'pending' AND lease_until IS NOT NULL AND lease_until > now()
             GROUP BY endpoint_id
         ), picked AS MATERIALIZED (
             SELECT d.id FROM webhook_endpoints e
             LEFT JOIN in_flight f ON f.endpoint_id = e.id
             CROSS JOIN LATERAL (
                 SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                 WHERE d.endpoint_id = e.id AND d.status = 'pending'
                   AND d.next_attempt_at <= now()
                   AND (d.lease_until IS NULL OR d.lease_until <= now())
                   AND NOT (d.id = ANY($4))
                 ORDER BY d.next_attempt_at, d.id
                 LIMIT greatest($2 - coalesce(f.n, 0), 0)
                 FOR UPDATE OF d SKIP LOCKED
             ) d
             WHERE e.enabled
             ORDER BY d.next_attempt_at LIMIT $1
         )
         UPDATE webhook_deliveries d
         SET lease_until = now() + make_interval(secs => $3), attempts = d.attempts + 1
         FROM picked p, webhook_endpoints e
         WHERE d.id = p.id AND e.id = d.endpoint_id
        RETURNING d.id, d.endpoint_id, d.body, d.attempts, e.url, e.secret_sealed,
                  CASE WHEN e.previous_secret_until > now() THEN e.previous_secret_sealed END
                      AS previous_secret_sealed,
                  d.created_at",
    )
    .bind(i64::try_from(lease.limit).unwrap_or(i64::MAX))
    .bind(lease.per_endpoint)
    .bind(lease.lasts.as_secs_f64())
    .bind(lease.held)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(Row::decode).collect())
}

/// A claimed row as stored.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    endpoint_id: Uuid,
    body: String,
    attempts: i32,
    url: String,
    secret_sealed: Option<Vec<u8>>,
    previous_secret_sealed: Option<Vec<u8>>,
    created_at: DateTime<Utc>,
}

impl Row {
    fn decode(self) -> Claim {
        let url = match endpoint_url(&self.url) {
            Ok(url) => url,
            Err(reason) => {
                return Err(Unreadable {
                    id: self.id,
                    endpoint_id: self.endpoint_id,
                    attempts: self.attempts,
                    reason: format!("the endpoint's URL is unusable: {reason}"),
                });
            }
        };
        Ok(Leased {
            id: self.id,
            endpoint_id: self.endpoint_id,
            body: self.body,
            attempts: self.attempts,
            url,
            secret_sealed: self.secret_sealed,
            previous_secret_sealed: self.previous_secret_sealed,
            created_at: self.created_at,
        })
    }
}

/// An absolute http(s) URL with a host; why not, in words that do not
/// quote it (its path may be a secret).
fn endpoint_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("not an http:// or https:// URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::endpoint_url;

    #[test]
    fn endpoint_urls_are_absolute_http_with_a_host() {
        assert!(endpoint_url("https://hooks.example.com/in?x=1").is_ok());
        assert!(endpoint_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in [
            "",
            "not a url",
            "/relative",
            "ftp://example.com/x",
            "mailto:a@b.c",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad:?}");
        }
        let why = endpoint_url("https://exa mple.com/secret-path").unwrap_err();
        assert!(!why.contains("secret-path"), "{why}");
    }
}
