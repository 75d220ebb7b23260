//! Batched records: each send hands its outcome to one recorder task and
//! waits for it to be committed, and the recorder writes whatever has
//! gathered meanwhile in one statement and one commit. Under load a batch
//! forms while the previous one commits; alone, a record waits for nobody.
//!
//! A batch the database refuses for something other than a passing fault
//! is written again one record at a time, so only the refused record is
//! given up (logged and counted by [`retry::until_recorded`]).

use crate::retry;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Records written in one commit at most.
const MAX_BATCH: usize = 256;

/// Writes a batch of records of one kind in one transaction.
pub trait WriteBatch<T>: Send + Sync + 'static {
    fn write(&self, batch: &[T]) -> impl Future<Output = sqlx::Result<()>> + Send;
}

/// The handle senders record through; the task ends once every handle is
/// dropped and what they handed in is written.
pub struct Recorder<T> {
    tx: mpsc::UnboundedSender<(T, oneshot::Sender<()>)>,
}

impl<T: Send + Sync + 'static> Recorder<T> {
    /// Starts the task. `what` names the record in logs.
    pub fn start<W: WriteBatch<T>>(
        what: &'static str,
        writer: W,
        cancel: CancellationToken,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(what, writer, rx, cancel));
        (Recorder { tx }, task)
    }

    /// Hands `record` in and waits until it is committed or given up.
    pub async fn record(&self, record: T) {
        let (done, committed) = oneshot::channel();
        if self.tx.send((record, done)).is_ok() {
            let _ = committed.await;
        }
    }
}

async fn run<T: Send + Sync, W: WriteBatch<T>>(
    what: &'static str,
    writer: W,
    mut rx: mpsc::UnboundedReceiver<(T, oneshot::Sender<()>)>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, waiting): (Vec<T>, Vec<oneshot::Sender<()>>) = batch.drain(..).unzip();
        match writer.write(&records).await {
            Ok(()) => {}
            // Some record of the batch is refused: find it, keep the others.
            Err(e) if records.len() > 1 && !crate::error::is_passing(&e) => {
                tracing::warn!(error = %e, "{what}: a batch was refused; writing it one by one");
                for record in &records {
                    let one = std::slice::from_ref(record);
                    retry::until_recorded(what, &cancel, || writer.write(one)).await;
                }
            }
            Err(_) => {
                retry::until_recorded(what, &cancel, || writer.write(&records)).await;
            }
        }
        metrics::histogram!("herald_records_per_commit", "kind" => what)
            .record(records.len() as f64);
        for done in waiting {
            let _ = done.send(());
        }
    }
}
