//! The IANA special-purpose address registries, as data: an outbound call (a webhook) to
//! any address in them is refused unless the configuration allows the host.
//!
//! - IPv4: <https://www.iana.org/assignments/iana-ipv4-special-registry> (every entry,
//!   the globally reachable anycast ones included: a webhook has no business there), plus
//!   multicast `224.0.0.0/4`, which the registry leaves to its own registry.
//! - IPv6: <https://www.iana.org/assignments/iana-ipv6-special-registry>, plus multicast
//!   `ff00::/8`, the deprecated site-local `fec0::/10`, and everything outside global
//!   unicast `2000::/3` (the IETF-reserved space: `::/8` holds the IPv4-compatible form
//!   `::a.b.c.d`).
//!
//! IPv6 addresses that carry an IPv4 address — mapped `::ffff:a.b.c.d`, compatible
//! `::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`, Teredo `2001::/32`, NAT64 `64:ff9b::/96` and
//! `64:ff9b:1::/48` — are all inside refused ranges, so whatever IPv4 they point at is
//! never reached through them; the mapped form is also judged by its IPv4 address, so the
//! error says what it is.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// `(range, name)` of the IPv4 special-purpose registry (and multicast).
pub const IPV4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
];

/// `(range, name)` of the IPv6 special-purpose registry (and the ranges named above).
pub const IPV6: &[(&str, &str)] = &[
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "IPv4-IPv6 translation (NAT64)"),
    ("64:ff9b:1::/48", "IPv4-IPv6 local-use translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    (
        "2001::/23",
        "IETF protocol assignments (Teredo, benchmarking, ORCHID…)",
    ),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link local"),
    ("fec0::/10", "site local (deprecated)"),
    ("ff00::/8", "multicast"),
];

fn v4_nets() -> &'static [(Ipv4Net, &'static str)] {
    static NETS: std::sync::OnceLock<Vec<(Ipv4Net, &'static str)>> = std::sync::OnceLock::new();
    NETS.get_or_init(|| {
        IPV4.iter()
            .map(|(n, name)| (n.parse().expect("a valid IPv4 range"), *name))
            .collect()
    })
}

fn v6_nets() -> &'static [(Ipv6Net, &'static str)] {
    static NETS: std::sync::OnceLock<Vec<(Ipv6Net, &'static str)>> = std::sync::OnceLock::new();
    NETS.get_or_init(|| {
        IPV6.iter()
            .map(|(n, name)| (n.parse().expect("a valid IPv6 range"), *name))
            .collect()
    })
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    v4_nets()
        .iter()
        .find(|(n, _)| n.contains(&ip))
        .map(|(_, name)| *name)
}

fn v6_kind(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4_kind(v4).unwrap_or("IPv4-mapped"));
    }
    if let Some((_, name)) = v6_nets().iter().find(|(n, _)| n.contains(&ip)) {
        return Some(name);
    }
    // Outside global unicast 2000::/3: IETF-reserved (`::a.b.c.d` compatible addresses too).
    (ip.segments()[0] & 0xe000 != 0x2000).then_some("reserved (not global unicast)")
}

/// What kind of special-purpose address `ip` is, or `None` for an ordinary public one.
pub fn special_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every range of both registries: its first and last address and one inside are refused.
    #[test]
    fn every_registry_range_is_refused_at_both_ends() {
        for (range, name) in IPV4 {
            let net: Ipv4Net = range.parse().unwrap();
            let mid = Ipv4Addr::from(
                (u32::from(net.network()) / 2).saturating_add(u32::from(net.broadcast()) / 2),
            );
            for ip in [net.network(), mid, net.broadcast()] {
                assert!(
                    special_kind(IpAddr::V4(ip)).is_some(),
                    "{ip} in {range} ({name})"
                );
            }
        }
        for (range, name) in IPV6 {
            let net: Ipv6Net = range.parse().unwrap();
            let (a, b) = (u128::from(net.network()), u128::from(net.broadcast()));
            let mid = Ipv6Addr::from(a / 2 + b / 2);
            for ip in [net.network(), mid, net.broadcast()] {
                assert!(
                    special_kind(IpAddr::V6(ip)).is_some(),
                    "{ip} in {range} ({name})"
                );
            }
        }
    }

    #[test]
    fn addresses_around_the_ranges_and_public_ones_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            "2001:200::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(special_kind(ip), None, "{ip}");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_refused_in_every_form() {
        for (ip, kind) in [
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "link local"),
            ("::127.0.0.1", "reserved (not global unicast)"),
            ("::8.8.8.8", "reserved (not global unicast)"),
            ("2002:7f00:1::", "6to4"),
            ("2002:a9fe:a9fe::1", "6to4"),
            (
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "IETF protocol assignments (Teredo, benchmarking, ORCHID…)",
            ),
            ("64:ff9b::10.0.0.1", "IPv4-IPv6 translation (NAT64)"),
            ("64:ff9b::8.8.8.8", "IPv4-IPv6 translation (NAT64)"),
            ("64:ff9b:1::a00:1", "IPv4-IPv6 local-use translation"),
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(special_kind(parsed), Some(kind), "{ip}");
        }
    }
}
