//! Slows token guessing without handing anyone a lever against others.
//!
//! The throttle keys on the end user, not the caller: `/v1` is called by the
//! back end, so the peer address is the back end's. When the peer is one of
//! `HERALD_TRUSTED_PROXIES`, the end user is the right-most `X-Forwarded-For`
//! address that is not itself a trusted proxy (the left part of that header
//! is whatever the client sent, and cannot be believed). One end user's
//! misses never refuse another's token.
//!
//! Each end user may miss a bounded number of times per window; past that it
//! gets 429 until its window ends. A request takes one miss in advance,
//! atomically with the check, and gives it back when its token was known:
//! a burst of concurrent guesses cannot pass the limit. Entries are evicted
//! as they expire, oldest first, a few at a time on each request, and the
//! table never holds more than [`MAX_CLIENTS`]. Every answer on these routes,
//! 429 included, takes at least [`FLOOR`], so no answer is faster than another.

use super::AppState;
use super::error::ApiError;
use crate::settings::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FLOOR: Duration = Duration::from_millis(25);
/// The most end users tracked at once; past it the oldest are forgotten.
pub const MAX_CLIENTS: usize = 100_000;

pub struct Throttle {
    max_misses: u32,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    clients: HashMap<IpAddr, Entry>,
    /// When each entry's window started, oldest first: what to evict next.
    order: VecDeque<(Instant, IpAddr)>,
}

struct Entry {
    since: Instant,
    misses: u32,
}

/// A miss taken in advance; [`Throttle::refund`] gives it back.
#[derive(Clone, Copy, Debug)]
pub struct Reservation {
    client: IpAddr,
    since: Instant,
}

impl Throttle {
    pub fn new(max_misses: u32, window: Duration) -> Self {
        Self {
            max_misses,
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Refuses an end user who has used up its misses in this window;
    /// otherwise takes one miss in advance.
    pub fn reserve(&self, client: IpAddr) -> Result<Reservation, ApiError> {
        let now = Instant::now();
        let mut state = self.state.lock().expect("throttle lock");
        state.evict(now, self.window);
        let fresh = match state.clients.get(&client) {
            Some(entry) => now.duration_since(entry.since) >= self.window,
            None => true,
        };
        if fresh {
            state.clients.insert(
                client,
                Entry {
                    since: now,
                    misses: 0,
                },
            );
            state.order.push_back((now, client));
        }
        let entry = state.clients.get_mut(&client).expect("inserted above");
        if entry.misses >= self.max_misses {
            metrics::counter!("herald_api_throttled_total").increment(1);
            let wait = self
                .window
                .saturating_sub(now.duration_since(entry.since))
                .as_secs()
                + 1;
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("too many unknown tokens from this client; try again in {wait} s"),
            ));
        }
        entry.misses += 1;
        Ok(Reservation {
            client,
            since: entry.since,
        })
    }

    /// The token was known: the miss taken in advance is given back.
    pub fn refund(&self, reservation: Reservation) {
        let mut state = self.state.lock().expect("throttle lock");
        if let Some(entry) = state.clients.get_mut(&reservation.client)
            && entry.since == reservation.since
        {
            entry.misses = entry.misses.saturating_sub(1);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state.lock().unwrap().clients.len()
    }
}

impl State {
    /// Forgets entries whose window has ended, and the oldest ones while the
    /// table is full. Each request pops what it finds due, so no request
    /// sweeps the whole table under the lock.
    fn evict(&mut self, now: Instant, window: Duration) {
        while let Some(&(since, client)) = self.order.front() {
            let expired = now.duration_since(since) >= window;
            if !expired && self.clients.len() < MAX_CLIENTS {
                break;
            }
            self.order.pop_front();
            // A later window of the same client has its own record.
            if self.clients.get(&client).is_some_and(|e| e.since == since) {
                self.clients.remove(&client);
            }
        }
    }
}

/// The end user a request comes from. IPv6 addresses count per /64, which
/// is what one subscriber is usually given.
pub fn end_user(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.0.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if is_trusted(&client) {
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in forwarded.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
                // Unreadable: what lies left of it cannot be trusted either.
                break;
            };
            client = ip;
            if !is_trusted(&ip) {
                break;
            }
        }
    }
    match client {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Extracts the [`end_user`] of a request.
pub struct EndUser(pub IpAddr);

impl FromRequestParts<AppState> for EndUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "no peer address",
                )
            })?;
        Ok(EndUser(end_user(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_after_the_allowed_misses_and_only_that_client() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        t.reserve(a).unwrap();
        let hit = t.reserve(a).unwrap();
        t.refund(hit);
        t.reserve(a).unwrap();
        assert_eq!(
            t.reserve(a).unwrap_err().status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert!(t.reserve(b).is_ok());
    }

    #[test]
    fn forgets_expired_clients_and_stays_bounded() {
        let t = Throttle::new(2, Duration::from_millis(1));
        for i in 0..1000u32 {
            t.reserve(IpAddr::from(i.to_be_bytes())).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
        t.reserve(ip("10.9.9.9")).unwrap();
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn believes_forwarded_addresses_only_from_trusted_proxies() {
        let trusted = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        headers.append("x-forwarded-for", "10.1.1.1".parse().unwrap());
        // The right-most address that is not a trusted proxy; the spoofed
        // left-most one is ignored.
        assert_eq!(end_user(ip("10.0.0.5"), &headers, &trusted), ip("1.2.3.4"));
        assert_eq!(
            end_user(ip("192.0.2.7"), &headers, &trusted),
            ip("192.0.2.7")
        );
        assert_eq!(
            end_user(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            end_user(ip("2001:db8:1:2:3:4:5:6"), &HeaderMap::new(), &trusted),
            ip("2001:db8:1:2::")
        );
    }
}
