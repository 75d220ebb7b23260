//! The consumer's live connection state, for `/readyz`: read from the
//! session that is consuming, so a probe never opens a connection of its own.

use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct BrokerStatus(Arc<Mutex<Result<(), String>>>);

impl Default for BrokerStatus {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Err("not connected yet".into()))))
    }
}

impl BrokerStatus {
    pub fn up(&self) {
        *self.0.lock().expect("broker status lock") = Ok(());
    }

    pub fn down(&self, why: impl Into<String>) {
        *self.0.lock().expect("broker status lock") = Err(why.into());
    }

    /// `Ok` while the consumer holds a live session.
    pub fn get(&self) -> Result<(), String> {
        self.0.lock().expect("broker status lock").clone()
    }
}
