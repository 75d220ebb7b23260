//! Rows a dispatcher is still working on: sending, or recording the result
//! while the database is away. Its claims skip them, so a lease that lapses
//! during a database outage does not make this worker send the row again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

#[derive(Clone, Default)]
pub struct Held(Arc<Mutex<HashSet<Uuid>>>);

/// Releases its row when dropped.
pub struct Hold {
    held: Held,
    id: Uuid,
}

impl Held {
    /// The rows held now, to leave out of the next claim.
    pub fn snapshot(&self) -> Vec<Uuid> {
        self.0.lock().expect("held lock").iter().copied().collect()
    }

    pub fn hold(&self, id: Uuid) -> Hold {
        self.0.lock().expect("held lock").insert(id);
        Hold {
            held: self.clone(),
            id,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.held.0.lock().expect("held lock").remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lasts_until_dropped() {
        let held = Held::default();
        let id = Uuid::new_v4();
        let hold = held.hold(id);
        assert_eq!(held.snapshot(), vec![id]);
        drop(hold);
        assert!(held.snapshot().is_empty());
    }
}
