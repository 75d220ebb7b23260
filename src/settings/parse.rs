//! Value parsers: each turns one raw setting into its type, or says why not.

use super::{RateLimit, Schedule, TrustedProxies};
use std::time::Duration;

pub(super) fn ttl(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw.trim())
        .map_err(|e| format!("{e} (examples: 90s, 15m, 1h, 7d)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

pub(super) fn schedule(raw: &str) -> Result<Schedule, String> {
    raw.split(',')
        .map(|part| ttl(part).map_err(|e| format!("{:?}: {e}", part.trim())))
        .collect::<Result<Vec<_>, _>>()
        .map(Schedule)
}

pub fn rate_limit(raw: &str) -> Result<RateLimit, String> {
    let raw = raw.trim();
    if raw == "0" {
        return Ok(RateLimit {
            max: 0,
            per: Duration::from_secs(3600),
        });
    }
    let (max, unit) = raw
        .split_once('/')
        .ok_or("expected COUNT/UNIT such as 5/h, or 0 for no limit")?;
    let max: u32 = max
        .trim()
        .parse()
        .map_err(|_| format!("{max:?} is not a count"))?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        other => ttl(other)?,
    };
    Ok(RateLimit { max, per })
}

/// `HERALD_TRUSTED_PROXIES`: comma-separated CIDRs, empty for none.
pub(super) fn trusted_proxies(raw: &str) -> Result<TrustedProxies, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(cidr)
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

/// `10.0.0.0/8`, `fd00::/8`, or one address.
pub(super) fn cidr(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not a CIDR (10.0.0.0/8) or an IP address"))
}

pub(super) fn base_url(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) || trimmed.len() < 10 {
        return Err("expected an http:// or https:// URL".into());
    }
    // Links go into HTML attributes unescaped (their values are percent-encoded).
    if trimmed
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'<>`".contains(c))
    {
        return Err("must not contain spaces, quotes or angle brackets".into());
    }
    Ok(trimmed.to_owned())
}

pub(super) fn amqp_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 200 || raw.chars().any(char::is_control) {
        return Err("expected 1 to 200 printable characters".into());
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schedules_limits_and_durations() {
        assert_eq!(
            schedule("5s, 2m").unwrap(),
            Schedule(vec![Duration::from_secs(5), Duration::from_secs(120)])
        );
        assert!(schedule("5s,soon").is_err());
        assert_eq!(
            rate_limit("5/h").unwrap(),
            RateLimit {
                max: 5,
                per: Duration::from_secs(3600)
            }
        );
        assert_eq!(rate_limit("0").unwrap().max, 0);
        assert!(rate_limit("many").is_err());
        assert_eq!(ttl("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert!(ttl("0s").is_err());
        assert_eq!(cidr("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(cidr(" 127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert!(cidr("10.0.0.0/33").is_err());
        assert_eq!(trusted_proxies("").unwrap(), TrustedProxies::default());
        assert_eq!(trusted_proxies("10.0.0.0/8, ::1").unwrap().0.len(), 2);
    }
}
