//! Where a request comes from, and whether that network may be used.
//!
//! `X-Forwarded-For` is believed only when the TCP peer is a configured trusted proxy, and then the
//! client is the right-most address that is not itself a trusted proxy (the left part of the
//! header is whatever the client chose to send).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// The client's address for a request.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the chain: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    client.to_canonical()
}

/// The key that throttles a client: the address, or its /64 for IPv6 (one subscriber's block).
pub fn throttle_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => ipnet::Ipv6Net::new(v6, 64)
            .map_or_else(|_| format!("ip:{v6}"), |n| format!("ip:{}", n.trunc())),
    }
}

pub use crate::config::parse_network;

/// Whether `who` (a role name, or `token`) may connect from `ip`. No entry: anywhere.
pub fn allowed(allowlist: &BTreeMap<String, Vec<IpNet>>, who: &str, ip: IpAddr) -> bool {
    allowlist
        .get(who)
        .is_none_or(|nets| nets.iter().any(|n| n.contains(&ip.to_canonical())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(items: &[&str]) -> Vec<IpNet> {
        items.iter().map(|i| i.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(peer, Some("1.2.3.4"), &trusted),
            peer,
            "untrusted peer"
        );
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            client_ip(proxy, Some("6.6.6.6, 198.51.100.7, 10.0.0.3"), &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "right-most untrusted hop; the spoofed left part is ignored"
        );
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
        assert_eq!(client_ip(proxy, Some("nonsense"), &trusted), proxy);
    }

    #[test]
    fn allowlists_cover_v4_and_v6() {
        let mut list = BTreeMap::new();
        list.insert(
            "agent".to_owned(),
            nets(&["192.168.0.0/16", "2001:db8::/32"]),
        );
        assert!(allowed(&list, "agent", "192.168.4.5".parse().unwrap()));
        assert!(allowed(
            &list,
            "agent",
            "::ffff:192.168.4.5".parse().unwrap()
        ));
        assert!(allowed(&list, "agent", "2001:db8::1".parse().unwrap()));
        assert!(!allowed(&list, "agent", "8.8.8.8".parse().unwrap()));
        assert!(!allowed(&list, "agent", "2001:db9::1".parse().unwrap()));
        assert!(allowed(&list, "owner", "8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn ipv6_clients_throttle_per_64() {
        assert_eq!(
            throttle_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            throttle_key("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
        assert_eq!(throttle_key("192.0.2.1".parse().unwrap()), "ip:192.0.2.1");
    }
}
