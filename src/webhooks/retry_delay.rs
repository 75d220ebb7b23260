//! When the next attempt is due: the retry schedule, jitter, and `Retry-After`.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// A receiver may ask for a pause, but not for one longer than this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);

/// The delay before the next attempt after `attempts` failed ones, or `None`
/// when the schedule is spent. `jitter` in `[0, 1)` spreads the delay over
/// ±20% so endpoints coming back are not hit by every replica at once. A
/// `Retry-After` is honoured as a lower bound, clamped to [`MAX_RETRY_AFTER`].
pub fn retry_delay(
    schedule: &[Duration],
    attempts: u32,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let scheduled = *schedule.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let factor = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    let jittered = scheduled.mul_f64(factor);
    Some(match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn follows_the_schedule_until_it_is_spent() {
        let schedule = [secs(5), secs(300)];
        assert_eq!(retry_delay(&schedule, 1, 0.5, None), Some(secs(5)));
        assert_eq!(retry_delay(&schedule, 2, 0.5, None), Some(secs(300)));
        assert_eq!(retry_delay(&schedule, 3, 0.5, None), None);
        assert_eq!(retry_delay(&schedule, 0, 0.5, None), None);
    }

    #[test]
    fn jitters_within_twenty_percent() {
        let schedule = [secs(100)];
        assert_eq!(retry_delay(&schedule, 1, 0.0, None), Some(secs(80)));
        assert_eq!(retry_delay(&schedule, 1, 1.0, None), Some(secs(120)));
    }

    #[test]
    fn honours_retry_after_as_a_clamped_lower_bound() {
        let schedule = [secs(5)];
        assert_eq!(
            retry_delay(&schedule, 1, 0.5, Some(secs(60))),
            Some(secs(60))
        );
        assert_eq!(retry_delay(&schedule, 1, 0.5, Some(secs(1))), Some(secs(5)));
        assert_eq!(
            retry_delay(&schedule, 1, 0.5, Some(secs(86_400))),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_delay(&schedule, 2, 0.5, Some(secs(1))), None);
    }

    #[test]
    fn parses_retry_after_in_seconds_or_as_a_date() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 120 ", now), Some(secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
