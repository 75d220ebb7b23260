//! The SSRF guard: webhook targets must be global addresses, checked on the
//! addresses actually connected to (a DNS resolver that filters), not only
//! when an endpoint is registered.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether an address is reachable on the public internet. Loopback,
/// private, link-local, CGNAT, multicast, unspecified, broadcast,
/// documentation, benchmarking and reserved ranges are not.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(embedded_v4(s[6], s[7]));
    }
    // 6to4 (2002::/16) likewise.
    if s[0] == 0x2002 {
        return is_global_v4(embedded_v4(s[1], s[2]));
    }
    // Only global unicast (2000::/3) is public; within it, IETF protocol
    // assignments (incl. Teredo), documentation and the new documentation range are not.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && (s[0] & 0xfff0) != 0x3ff0
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

/// Why a URL's host is refused at registration: a non-global IP literal,
/// or a name that always means this machine.
pub fn refuse_host(url: &reqwest::Url) -> Option<String> {
    if let Some(why) = refuse_ip_literal(url) {
        return Some(why);
    }
    let name = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (name == "localhost" || name.ends_with(".localhost"))
        .then(|| format!("refused: {name} is not a public address"))
}

/// Why a URL's IP-literal host is refused. Literals never reach the
/// resolver, so the dispatcher checks them itself; names are left to
/// [`GlobalOnly`], which sees the addresses actually connected to.
pub fn refuse_ip_literal(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()?;
    (!is_global(ip)).then(|| format!("refused: {ip} is not a public address"))
}

/// The guard's refusal of a name, told apart from other connect errors so
/// that the dispatcher can warn about a setting rather than a failing peer.
#[derive(Debug)]
pub struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether the guard refused this request's target (somewhere in its causes).
pub fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if e.is::<Refused>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// Resolves with the system resolver and keeps only global addresses, so a
/// name that points (or is re-pointed) at an internal address is refused at
/// connect time.
#[derive(Clone, Copy, Debug)]
pub struct GlobalOnly;

impl Resolve for GlobalOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let global: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_global(a.ip())).collect();
            if global.is_empty() {
                let refused: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                return Err(Box::new(Refused(format!(
                    "refused: {host} resolves to no public address ({}); set HERALD_WEBHOOK_ALLOW_PRIVATE to allow it",
                    refused.join(", ")
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(global.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(s: &str) -> bool {
        is_global(s.parse().unwrap())
    }

    #[test]
    fn refuses_non_global_ipv4() {
        for ip in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(!global(ip), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "93.184.216.34",
        ] {
            assert!(global(ip), "{ip} is public");
        }
    }

    #[test]
    fn refuses_non_global_ipv6() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(!global(ip), "{ip} must be refused");
        }
        for ip in ["2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            assert!(global(ip), "{ip} is public");
        }
    }

    #[test]
    fn refuses_obvious_hosts_before_resolving() {
        let refused = |u: &str| refuse_host(&reqwest::Url::parse(u).unwrap()).is_some();
        assert!(refused("http://127.0.0.1:8080/x"));
        assert!(refused("http://[::1]/x"));
        assert!(refused("http://LOCALHOST./x"));
        assert!(refused("http://api.localhost/x"));
        assert!(!refused("https://example.com/x"));
        assert!(!refused("https://1.1.1.1/x"));
    }
}
