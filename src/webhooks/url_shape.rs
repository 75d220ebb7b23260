//! The shape of an endpoint URL, stated twice in lockstep: as the pattern
//! the API's schema publishes and as the check registration applies. A
//! client that builds a URL the document allows is never refused for its
//! shape, and one the document forbids is never taken. (Whether its host
//! is private is policy, checked afterwards.)

/// `http(s)://`, a host name whose last label starts with a letter or a
/// dotted-quad IPv4 address, an optional port up to 65535, then a path,
/// query and fragment of the characters RFC 3986 allows in each, with
/// well-formed percent-encoding.
pub const PATTERN: &str = concat!(
    r"^https?://",
    r"(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])",
    r"|([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?)",
    r"(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    r"(\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?",
    r"(#([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
);

/// Whether `raw` matches [`PATTERN`].
pub fn matches(raw: &str) -> bool {
    let Some(rest) = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
    else {
        return false;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (before_fragment, None),
    };
    (ipv4(host) || domain(host))
        && port.is_none_or(port_ok)
        && uri_part(path, b"/")
        && query.is_none_or(|q| uri_part(q, b"/?"))
        && fragment.is_none_or(|f| uri_part(f, b"/?"))
}

/// RFC 3986 `pchar`s, the `extra` characters, and `%` with two hex digits.
fn uri_part(part: &str, extra: &[u8]) -> bool {
    let bytes = part.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"._~!$&'()*+,;=:@-".contains(&b) || extra.contains(&b)) {
            return false;
        }
        i += 1;
    }
    true
}

fn octet(s: &str) -> bool {
    let digits = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    digits && (s.len() == 1 || !s.starts_with('0')) && s.parse::<u16>().is_ok_and(|n| n <= 255)
}

fn ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4 && parts.iter().all(|p| octet(p))
}

fn domain(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let label =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let labels: Vec<&str> = host.split('.').collect();
    labels.iter().all(|l| label(l))
        && labels
            .last()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
}

fn port_ok(port: &str) -> bool {
    let digits = port.bytes().all(|b| b.is_ascii_digit());
    match port.len() {
        1..=4 => digits,
        5 => digits && !port.starts_with('0') && port.parse::<u32>().is_ok_and(|n| n <= 65535),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn the_shapes_the_pattern_allows() {
        for ok in [
            "https://example.com",
            "http://hooks.example.com:8443/in?x=1#f",
            "https://1.1.1.1/x",
            "http://localhost:65535/",
            "https://example.com./a%20b",
            "https://example.com?a=/?b#c?/",
            "https://example.com#f",
            "http://10.0.0.5:1/",
        ] {
            assert!(matches(ok), "{ok}");
        }
    }

    #[test]
    fn the_shapes_it_refuses() {
        for bad in [
            "https://",
            "ftp://example.com",
            "https://a b.com",
            "https://a_b.com",
            "https://example.999",
            "https://1.2.3.999",
            "https://09.1.1.1",
            "https://example.com:65536",
            "https://example.com:01234",
            "https://example.com:",
            "https://user@example.com",
            "https://example.com/é",
            " https://example.com",
            "https://example..com",
            "https://example.com/a[1]",
            "https://example.com/#a#b",
            "https://example.com/a%2",
            "https://example.com/a%zz",
        ] {
            assert!(!matches(bad), "{bad}");
        }
    }
}
