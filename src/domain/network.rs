//! Who is on the other end of a connection: address ranges of trusted
//! proxies, and the client address behind them. A client's own
//! `X-Forwarded-For` is hostile input: only hops added by proxies the
//! operator listed are believed.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::Error;

/// An IP address range in CIDR notation (`10.0.0.0/8`, `fd00::/8`; a bare
/// address is a range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `address` lies in the range (IPv4-mapped IPv6 addresses count
    /// as their IPv4 address).
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<IpRange, Error> {
        let bad = || {
            Error::invalid_request(format!(
                "`{text}` is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)"
            ))
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base = IpAddr::from_str(address).map_err(|_| bad())?.to_canonical();
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(IpRange { base, prefix })
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The client's address: the connection's peer, unless the peer is a
/// trusted proxy — then the `X-Forwarded-For` hops are read from the right
/// (the nearest first), skipping trusted proxies, and the first hop that is
/// not one is the client. Every `X-Forwarded-For` header counts, in order
/// (a client that sends its own gets it appended to by the proxy, so what it
/// wrote stands left of the hop the proxy vouches for). A hop that is not an
/// address ends the walk at the last address a trusted proxy vouched for.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpRange],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|range| range.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:5678`) as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(hop) {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return IpAddr::from_str(ip).ok().map(|ip| ip.to_canonical());
    }
    let (ip, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    std::net::Ipv4Addr::from_str(ip).ok().map(IpAddr::V4)
}

/// What per-address limits count by: an IPv4 address, or the /64 an IPv6
/// address belongs to (one subscriber usually holds a whole /64, so counting
/// single IPv6 addresses would give an attacker 2^64 fresh budgets).
pub fn limit_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => {
            let prefix = u128::from(ip) & (u128::MAX << 64);
            format!("{}/64", std::net::Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn ranges(texts: &[&str]) -> Vec<IpRange> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn ranges_parse_and_contain() {
        let private: IpRange = "10.0.0.0/8".parse().unwrap();
        assert!(private.contains(ip("10.1.2.3")));
        assert!(private.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(!private.contains(ip("11.0.0.1")));
        assert!(!private.contains(ip("::1")));
        let one: IpRange = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let v6: IpRange = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert_eq!(v6.to_string(), "fd00::/8");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "host/8",
            "10.0.0/8",
            "10.0.0.0/8/8",
        ] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = ranges(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(ip("203.0.113.9"), ["1.2.3.4"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), ["1.2.3.4"], &[]),
            ip("203.0.113.9"),
            "no trusted proxies: the header is never read"
        );
    }

    #[test]
    fn a_trusted_proxy_vouches_for_the_hop_it_added() {
        let trusted = ranges(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.5");
        assert_eq!(
            client_address(peer, ["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // The client forged two hops; the proxy appended the real one.
        assert_eq!(
            client_address(peer, ["6.6.6.6, 7.7.7.7, 198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Two proxies in a row: both skipped.
        assert_eq!(
            client_address(peer, ["6.6.6.6, 198.51.100.1, 10.9.9.9"], &trusted),
            ip("198.51.100.1")
        );
        // Duplicate headers count in order.
        assert_eq!(
            client_address(peer, ["6.6.6.6", "198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Forged trusted-looking hops left of the real client do not matter.
        assert_eq!(
            client_address(peer, ["10.0.0.1, 198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // No header: the proxy itself.
        assert_eq!(client_address(peer, [], &trusted), peer);
        // Garbage where the proxy's hop should be: stop at what was vouched for.
        assert_eq!(
            client_address(peer, ["198.51.100.1, nonsense"], &trusted),
            peer
        );
        // Ports and brackets as some proxies write them.
        assert_eq!(
            client_address(peer, ["198.51.100.1:4711"], &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(
            client_address(peer, ["[2001:db8::1]:4711"], &trusted),
            ip("2001:db8::1")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            client_address(peer, ["10.1.1.1, 10.2.2.2"], &trusted),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::9")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
    }
}
