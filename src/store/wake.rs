//! Waking dispatchers when work is committed: the writer calls [`notify`]
//! inside its transaction, PostgreSQL delivers the notification at commit
//! (never for rows a dispatcher cannot see yet), and the dispatcher's
//! [`Wake`] returns from its wait. A slower poll stays as the fallback for
//! retries coming due, other replicas' rows and a lost listener.

use futures_util::FutureExt;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Queues a wake-up on `channel`, sent when the caller's transaction commits.
/// PostgreSQL folds identical notifications in one transaction into one.
pub async fn notify(conn: &mut PgConnection, channel: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(conn)
        .await?;
    Ok(())
}

pub struct Wake {
    listener: Option<PgListener>,
    poll: Duration,
}

impl Wake {
    /// Listens on `channel`; without a listener the poll still finds the rows.
    pub async fn listen(pool: &PgPool, channel: &str, poll: Duration) -> Self {
        let listener = match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(channel).await {
                Ok(()) => Some(listener),
                Err(e) => {
                    tracing::warn!(channel, error = %e, "cannot listen; polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(channel, error = %e, "cannot listen; polling only");
                None
            }
        };
        Wake { listener, poll }
    }

    /// Polls every `poll`, listening to nothing.
    pub fn poll_only(poll: Duration) -> Self {
        Wake {
            listener: None,
            poll,
        }
    }

    /// Returns on a notification, after the poll interval, or on `cancel`.
    /// Notifications already received are consumed too: one claim after
    /// this sees every commit they announced.
    pub async fn wait(&mut self, cancel: &CancellationToken) {
        let poll = tokio::time::sleep(self.poll);
        tokio::pin!(poll);
        if let Some(listener) = &mut self.listener {
            tokio::select! {
                received = listener.recv() => {
                    if received.is_ok() {
                        while let Some(Ok(_)) = listener.recv().now_or_never() {}
                        return;
                    }
                }
                _ = &mut poll => return,
                _ = cancel.cancelled() => return,
            }
        }
        tokio::select! {
            _ = &mut poll => {}
            _ = cancel.cancelled() => {}
        }
    }
}
