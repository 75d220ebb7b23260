//! Rows a dispatcher is still working on: sending, or recording the result
//! while the database is away. Its claims skip them, so a lease that lapses
//! during a database outage does not make this worker send the row again.
//! `herald_dispatch_in_flight` counts them: it returns to zero once every
//! send has ended and been recorded or given up.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Clone)]
pub struct Held {
    rows: Arc<Mutex<HashSet<Uuid>>>,
    kind: &'static str,
}

/// Releases its row when dropped.
pub struct Hold {
    held: Held,
    id: Uuid,
}

impl Held {
    /// Rows of one dispatcher, `kind` labelling its gauge.
    pub fn new(kind: &'static str) -> Self {
        Held {
            rows: Arc::default(),
            kind,
        }
    }

    /// The rows held now, to leave out of the next claim.
    pub fn snapshot(&self) -> Vec<Uuid> {
        self.rows
            .lock()
            .expect("held lock")
            .iter()
            .copied()
            .collect()
    }

    pub fn hold(&self, id: Uuid) -> Hold {
        self.rows.lock().expect("held lock").insert(id);
        metrics::gauge!("herald_dispatch_in_flight", "kind" => self.kind).increment(1.0);
        Hold {
            held: self.clone(),
            id,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.held.rows.lock().expect("held lock").remove(&self.id);
        metrics::gauge!("herald_dispatch_in_flight", "kind" => self.held.kind).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_until_dropped() {
        let held = Held::new("test");
        let id = Uuid::new_v4();
        let hold = held.hold(id);
        assert_eq!(held.snapshot(), vec![id]);
        drop(hold);
        assert!(held.snapshot().is_empty());
    }
}
