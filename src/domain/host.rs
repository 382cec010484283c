//! The one normal form of a host, used for enforcement claims, their
//! uniqueness and every request lookup, so that no spelling of a host (case,
//! trailing dot, port, IPv6 or IPv4 notation, Unicode or punycode) can make
//! it another resource server's.
//!
//! This file depends on `std` and `url` only: the `migration` crate compiles
//! the very same file to bring claims stored by older versions to this form
//! (one implementation, so the rows it writes are the ones lookups find).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Longest host name (DNS: 253 bytes without the trailing dot).
pub const MAX_HOST_NAME: usize = 253;
/// Longest DNS label.
const MAX_LABEL: usize = 63;
/// Longest authority looked at; a longer one is refused unparsed.
const MAX_AUTHORITY: usize = 1024;

/// A parsed `host[:port]`: the host in normal form (lower-case ASCII,
/// IDNA-encoded, no trailing dot; IPv4 dotted-decimal; IPv6 canonical
/// (RFC 5952) inside brackets, IPv4-mapped IPv6 as its IPv4) and the port as
/// written, if one was.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Authority {
    pub host: String,
    pub port: Option<u16>,
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Why an authority was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub &'static str);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Parses an authority (`Host` / `:authority`, or a profile's host entry)
/// into its normal form. Refuses rather than guesses: userinfo, several
/// values joined by a proxy (`,`), whitespace, control characters,
/// percent-escapes, an empty host or port, port 0 or above 65535, a host
/// name longer than 253 bytes.
pub fn parse_authority(text: &str) -> Result<Authority, HostError> {
    if text.is_empty() {
        return Err(HostError("the authority is empty"));
    }
    if text.len() > MAX_AUTHORITY {
        return Err(HostError("the authority is too long"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(HostError(
            "the authority contains whitespace or control characters",
        ));
    }
    if text.contains(',') {
        return Err(HostError(
            "the authority holds several values (a duplicated header?)",
        ));
    }
    if text.contains('@') {
        return Err(HostError("the authority must not carry user information"));
    }
    if text.contains(['%', '/', '\\', '?', '#']) {
        return Err(HostError("the authority is not a host name"));
    }
    let (host, port) = if text.starts_with('[') {
        let end = text
            .find(']')
            .ok_or(HostError("the IPv6 literal is not closed"))?;
        let (host, rest) = text.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if rest.is_empty() => (host, None),
            None => return Err(HostError("unexpected text after the IPv6 literal")),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(HostError("an IPv6 address must be in brackets"));
            }
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    Ok(Authority {
        host: normal_host(host)?,
        port: port.map(parse_port).transpose()?,
    })
}

/// The port a request reaches when it names none: the scheme's default
/// (Envoy's `HttpRequest.scheme`).
pub fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    }
}

fn parse_port(text: &str) -> Result<u16, HostError> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostError("the port is not a number"));
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostError("the port must be between 1 and 65535")),
        Ok(port) => Ok(port),
    }
}

fn normal_host(text: &str) -> Result<String, HostError> {
    if text.starts_with('[') {
        return match url::Host::parse(text) {
            Ok(url::Host::Ipv6(address)) => Ok(normal_ipv6(address)),
            _ => Err(HostError("not an IPv6 address")),
        };
    }
    // One trailing dot is the fully qualified spelling of the same name.
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err(HostError("the host is empty"));
    }
    match url::Host::parse(name) {
        Ok(url::Host::Ipv4(address)) => Ok(address.to_string()),
        Ok(url::Host::Ipv6(address)) => Ok(normal_ipv6(address)),
        Ok(url::Host::Domain(domain)) => {
            if domain.len() > MAX_HOST_NAME {
                return Err(HostError("the host name is longer than 253 bytes"));
            }
            let labels_ok = domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= MAX_LABEL
                    && label.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    })
            });
            if !labels_ok {
                return Err(HostError("not a host name"));
            }
            Ok(domain)
        }
        Err(_) => Err(HostError("not a host name")),
    }
}

fn normal_ipv6(address: Ipv6Addr) -> String {
    match address.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4).to_string(),
        None => format!("[{address}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(text: &str) -> String {
        parse_authority(text).unwrap().to_string()
    }

    #[test]
    fn every_spelling_of_a_host_has_one_normal_form() {
        for (spelling, form) in [
            ("photos.example.com", "photos.example.com"),
            ("PHOTOS.Example.COM", "photos.example.com"),
            ("photos.example.com.", "photos.example.com"),
            ("PHOTOS.example.com.:8080", "photos.example.com:8080"),
            ("photos.example.com:08080", "photos.example.com:8080"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("ｐｈｏｔｏｓ.example.com", "photos.example.com"),
            ("[::1]", "[::1]"),
            ("[0:0::1]:443", "[::1]:443"),
            ("[0000:0000:0000:0000:0000:0000:0000:0001]", "[::1]"),
            ("[2001:DB8::A]", "[2001:db8::a]"),
            ("[::ffff:127.0.0.1]", "127.0.0.1"),
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.1.:80", "127.0.0.1:80"),
            ("0x7f.0.0.1", "127.0.0.1"),
            ("localhost", "localhost"),
            ("_svc.example", "_svc.example"),
        ] {
            assert_eq!(normal(spelling), form, "{spelling}");
        }
    }

    #[test]
    fn ambiguous_or_hostile_authorities_are_refused() {
        let long = format!("{}.example", "a.".repeat(130));
        for bad in [
            "",
            ".",
            "a..b",
            "example.com..",
            "user@photos.example.com",
            "photos.example.com,evil.example",
            "photos.example.com, photos.example.com",
            "photos.example.com:",
            "photos.example.com:0",
            "photos.example.com:65536",
            "photos.example.com:123456",
            "photos.example.com:8o",
            "photos.example.com:-1",
            "photos .example.com",
            "photos.example.com\t",
            "photos.example.com\0",
            "ph%6ftos.example.com",
            "photos.example.com/x",
            "photos\\example.com",
            "::1",
            "[::1",
            "[::1]x",
            "[fe80::1%25eth0]",
            "[not-v6]",
            "a*b.example",
            "a!b.example",
            &long,
            &format!("{}.example", "a".repeat(64)),
        ] {
            assert!(parse_authority(bad).is_err(), "{bad:?}");
        }
        assert!(parse_authority(&"a".repeat(2000)).is_err());
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(default_port("http"), Some(80));
        assert_eq!(default_port("HTTPS"), Some(443));
        assert_eq!(default_port(""), None);
    }
}
