//! Slows token guessing: each client (by address) may miss a bounded number
//! of times per window on the token routes; past that it gets 429 until the
//! window ends. Every answer on these routes also takes at least
//! [`FLOOR`], so a hit and a miss cost the same time.

use super::error::ApiError;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FLOOR: Duration = Duration::from_millis(25);

pub struct Throttle {
    max_misses: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    pub fn new(max_misses: u32, window: Duration) -> Self {
        Self {
            max_misses,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses a client that has used up its misses in this window.
    pub fn check(&self, client: IpAddr) -> Result<(), ApiError> {
        let clients = self.clients.lock().expect("throttle lock");
        if let Some((since, misses)) = clients.get(&client)
            && since.elapsed() < self.window
            && *misses >= self.max_misses
        {
            metrics::counter!("herald_api_throttled_total").increment(1);
            let wait = self.window.saturating_sub(since.elapsed()).as_secs() + 1;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many unknown tokens from this client; try again in {wait} s"),
            ));
        }
        Ok(())
    }

    pub fn miss(&self, client: IpAddr) {
        metrics::counter!("herald_api_token_misses_total").increment(1);
        let mut clients = self.clients.lock().expect("throttle lock");
        if clients.len() > 100_000 {
            let window = self.window;
            clients.retain(|_, (since, _)| since.elapsed() < window);
        }
        let entry = clients.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_allowed_misses_and_only_that_client() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        t.miss(a);
        assert!(t.check(a).is_ok());
        t.miss(a);
        assert_eq!(
            t.check(a).unwrap_err().status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert!(t.check(b).is_ok());
    }
}
