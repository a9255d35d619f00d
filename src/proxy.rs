//! Behind a reverse proxy (nginx terminating TLS): who the client really is.
//!
//! A proxy opens its own TCP connection to us, so the peer address we see is the proxy's. The
//! proxy says who the client is in request headers: RFC 7239 `Forwarded: for=…;proto=…;host=…`,
//! or the older `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`.
//!
//! Any client can send those headers too, so they are believed only when the TCP peer is listed
//! in `--trust-proxy`. A header may list several hops (`client, proxy1, proxy2`), each appended
//! by the proxy that received the request from the hop before: only the entries written by our
//! trusted proxies are facts. So the list is read from the right (the hop nearest us), and the
//! first address that is not a trusted proxy is the client — whatever the client itself wrote
//! further left is ignored. Anything unreadable stops the walk at the last hop we could trust.
//!
//! Pure functions over header lists: no socket, so every rule is a unit test.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Hops read from the right end of a forwarding header. Real chains are one or two proxies;
/// a longer all-trusted chain than this is not believed at all (the peer's address is used).
pub const MAX_HOPS: usize = 16;

/// Longest host a proxy may report: a DNS name (253) plus `:65535`.
const MAX_HOST: usize = 253 + 6;

/// `--trust-proxy ADDR[,ADDR…]`: the peers whose forwarding headers are believed. Each entry
/// is an address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Range>);

/// An address range: the first `prefix` bits of `net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    net: IpAddr,
    prefix: u8,
}

impl Range {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

/// `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) is the IPv4 address it carries.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl TrustedProxies {
    /// Parses `127.0.0.1,10.0.0.0/8,::1` (spaces allowed, brackets around IPv6 optional).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut ranges = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (entry, None),
            };
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            let net: IpAddr = addr.parse().map_err(|_| {
                format!("--trust-proxy: {entry:?} is not an IP address or ADDR/PREFIX range")
            })?;
            let net = canonical(net);
            let bits = if net.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => bits,
                Some(p) => p.parse::<u8>().ok().filter(|&p| p <= bits).ok_or_else(|| {
                    format!("--trust-proxy: {entry:?}: the prefix is 0 to {bits}")
                })?,
            };
            ranges.push(Range { net, prefix });
        }
        if ranges.is_empty() {
            return Err("--trust-proxy needs at least one address, e.g. 127.0.0.1".into());
        }
        Ok(TrustedProxies(ranges))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// No proxy is trusted (the default): forwarding headers are always ignored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.0.iter().enumerate() {
            let sep = if i > 0 { "," } else { "" };
            let full = if range.net.is_ipv4() { 32 } else { 128 };
            match range.prefix {
                p if p == full => write!(f, "{sep}{}", range.net)?,
                p => write!(f, "{sep}{}/{p}", range.net)?,
            }
        }
        Ok(())
    }
}

/// The scheme the client used to reach the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Http,
    Https,
}

impl Proto {
    fn parse(value: &str) -> Option<Proto> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("https") {
            Some(Proto::Https)
        } else if value.eq_ignore_ascii_case("http") {
            Some(Proto::Http)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }
}

/// Who sent a request, as far as we can believe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the TCP peer's, or the one a trusted proxy reported (port 0 when
    /// the proxy gave none).
    pub addr: SocketAddr,
    /// The scheme the client used, if a trusted proxy said so.
    pub proto: Option<Proto>,
    /// The `Host` the client asked for, if a trusted proxy said so.
    pub host: Option<String>,
}

impl Client {
    /// A client that reached us directly: its address is the peer's, nothing else is known.
    pub fn direct(peer: SocketAddr) -> Client {
        Client {
            addr: peer,
            proto: None,
            host: None,
        }
    }

    /// The origin of our own pages as this client saw them (RFC 6454 §4): `http://` and the
    /// request's `Host`, unless a trusted proxy reported the scheme and host the client used
    /// (`https://chat.example`).
    pub fn own_origin(&self, request_host: Option<&str>) -> Option<String> {
        let host = self.host.as_deref().or(request_host)?;
        let proto = self.proto.unwrap_or(Proto::Http);
        Some(format!("{}://{host}", proto.as_str()))
    }
}

/// One hop of a forwarding header: whom the proxy that wrote it received the request from,
/// and the scheme and host that hop used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Hop {
    /// `None`: `unknown`, an obfuscated identifier (RFC 7239 §6.2, §6.3), or garbage.
    from: Option<SocketAddr>,
    proto: Option<Proto>,
    host: Option<String>,
}

/// The client behind `peer`, from the request's `headers`. Only a trusted peer's headers are
/// read; `Forwarded` (RFC 7239) wins over the `X-Forwarded-*` family when both are present.
pub fn client(peer: SocketAddr, headers: &[(String, String)], trusted: &TrustedProxies) -> Client {
    if !trusted.contains(peer.ip()) {
        return Client::direct(peer);
    }
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if values("Forwarded").next().is_some() {
        let (hops, total) = last_hops(
            values("Forwarded")
                .flat_map(|v| split_unquoted(v, b','))
                .map(forwarded_element),
        );
        return walk(peer, &hops, total, trusted);
    }
    let (hops, total) = last_hops(values("X-Forwarded-For").flat_map(|v| v.split(',')).map(
        |entry| Hop {
            from: node(entry.trim()),
            ..Hop::default()
        },
    ));
    let mut client = walk(peer, &hops, total, trusted);
    // One value per header for the whole chain: the last one was written nearest to us.
    client.proto = last_token(values("X-Forwarded-Proto")).and_then(Proto::parse);
    client.host = last_token(values("X-Forwarded-Host")).and_then(host);
    client
}

/// The last `MAX_HOPS` hops and how many there were: memory stays bounded however long the
/// header, and only the right end matters.
fn last_hops(hops: impl Iterator<Item = Hop>) -> (VecDeque<Hop>, usize) {
    let mut kept = VecDeque::with_capacity(MAX_HOPS);
    let mut total = 0;
    for hop in hops {
        if kept.len() == MAX_HOPS {
            kept.pop_front();
        }
        kept.push_back(hop);
        total += 1;
    }
    (kept, total)
}

/// Reads the hops from the right. Each hop was written by the one to its right (the rightmost
/// by `peer`), so while those are trusted proxies, the hop is a fact.
fn walk(peer: SocketAddr, hops: &VecDeque<Hop>, total: usize, trusted: &TrustedProxies) -> Client {
    // The address of whoever wrote the hop being read: a trusted proxy.
    let mut writer = peer;
    for hop in hops.iter().rev() {
        match hop.from {
            Some(from) if trusted.contains(from.ip()) => writer = from,
            Some(from) => return believed(from, hop),
            // The hop hides or garbles its client: the nearest address we know is its writer.
            None => return believed(writer, hop),
        }
    }
    match hops.front() {
        // Every hop is a trusted proxy: the request began at the first of them.
        Some(first) if total == hops.len() => believed(writer, first),
        // Empty, or an all-trusted chain longer than we read: not believed.
        _ => Client::direct(peer),
    }
}

fn believed(addr: SocketAddr, hop: &Hop) -> Client {
    Client {
        addr,
        proto: hop.proto,
        host: hop.host.clone(),
    }
}

/// `for=192.0.2.60;proto=http;by=203.0.113.43` (RFC 7239 §4): the pairs we use; unknown
/// parameters (`by`, extensions) are ignored, as the RFC says (§5).
///
/// A parameter "MUST NOT occur more than once per forwarded-element" (§4): an element with
/// a repeat is garbage as a whole. That matters: a proxy that writes `host="$http_host"` lets
/// the client put `";for="1.2.3.4` into it, and a later `for` must not win.
fn forwarded_element(element: &str) -> Hop {
    let mut hop = Hop::default();
    let mut seen = [false; 3];
    for pair in split_unquoted(element, b';') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        let name = name.trim();
        let which = ["for", "proto", "host"]
            .iter()
            .position(|known| name.eq_ignore_ascii_case(known));
        let Some(which) = which else { continue };
        if std::mem::replace(&mut seen[which], true) {
            return Hop::default();
        }
        match which {
            0 => hop.from = node(value),
            1 => hop.proto = Proto::parse(value),
            _ => hop.host = host(value),
        }
    }
    hop
}

/// Splits at `sep` outside quoted strings (RFC 9110 §5.6.4), so `for="[::1]:80", for=x` is two
/// elements however the quotes hold commas or semicolons. One pass, no allocation.
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, b) in s.bytes().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    // `sep` is ASCII, so `i` and `i + 1` are character boundaries.
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// `"…"` → `…`. A backslash escape cannot occur in any value we use (addresses, schemes,
/// hosts), so a value holding one stays garbage and is refused by its parser.
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// A node (RFC 7239 §6): `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]`,
/// `[2001:db8::17]:4711`; also a bare IPv6 address, as `X-Forwarded-For` writes it. `unknown`,
/// obfuscated names (`_hidden`) and anything else are `None`; an obfuscated port is port 0.
fn node(value: &str) -> Option<SocketAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(SocketAddr::new(canonical(ip), 0));
    }
    let (ip, port): (IpAddr, &str) = match value.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            (ip.parse::<Ipv6Addr>().ok()?.into(), after)
        }
        None => {
            let at = value.find(':')?;
            (value[..at].parse::<Ipv4Addr>().ok()?.into(), &value[at..])
        }
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => 0,
        Some(obfuscated) if obfuscated.starts_with('_') => 0,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        _ => return None,
    };
    Some(SocketAddr::new(canonical(ip), port))
}

/// A reported host is `name[:port]` or `[v6][:port]` (RFC 9110 §7.2); anything else (spaces,
/// slashes, quotes, a URL) is refused rather than echoed into an origin.
fn host(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_HOST
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b));
    ok.then(|| value.to_string())
}

/// The last comma-separated element of a header over all its lines.
fn last_token<'h>(values: impl Iterator<Item = &'h str>) -> Option<&'h str> {
    values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .last()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROXY: &str = "127.0.0.1:40000";

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// The client as seen from `peer` (a proxy trusting 127.0.0.1 and 10.0.0.0/8).
    fn from(peer: &str, list: &[(&str, &str)]) -> Client {
        client(
            peer.parse().unwrap(),
            &headers(list),
            &trusted("127.0.0.1, 10.0.0.0/8"),
        )
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_lists_take_addresses_and_ranges() {
        let list = trusted("127.0.0.1, 10.0.0.0/8,[::1],fd00::/8");
        for yes in ["127.0.0.1", "10.1.2.3", "::1", "fd12::5", "::ffff:10.9.9.9"] {
            assert!(list.contains(yes.parse().unwrap()), "{yes}");
        }
        for no in ["127.0.0.2", "11.0.0.1", "::2", "fe80::1"] {
            assert!(!list.contains(no.parse().unwrap()), "{no}");
        }
        assert_eq!(list.to_string(), "127.0.0.1,10.0.0.0/8,::1,fd00::/8");
        assert!(trusted("0.0.0.0/0").contains("203.0.113.9".parse().unwrap()));
        for bad in ["", " , ", "localhost", "10.0.0.0/33", "::/129", "1.2.3.4/x"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TrustedProxies::default().is_empty());
    }

    #[test]
    fn an_untrusted_peer_is_its_own_address_whatever_it_claims() {
        let spoof = [
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "chat.example"),
            (
                "Forwarded",
                "for=198.51.100.7;proto=https;host=chat.example",
            ),
        ];
        assert_eq!(
            from("192.0.2.1:5555", &spoof),
            Client::direct(addr("192.0.2.1:5555"))
        );
        let nobody = TrustedProxies::default();
        let peer = addr(PROXY);
        assert_eq!(
            client(peer, &headers(&spoof), &nobody),
            Client::direct(peer)
        );
    }

    #[test]
    fn x_forwarded_for_gives_the_rightmost_untrusted_hop() {
        let c = from(
            PROXY,
            &[
                ("X-Forwarded-For", "203.0.113.9"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "chat.example"),
            ],
        );
        assert_eq!(c.addr, addr("203.0.113.9:0"));
        assert_eq!(c.proto, Some(Proto::Https));
        assert_eq!(
            c.own_origin(Some("127.0.0.1:8080")).as_deref(),
            Some("https://chat.example")
        );
        // The client wrote the first two; nginx appended the real one; an inner proxy followed.
        let c = from(
            PROXY,
            &[("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 203.0.113.9, 10.0.0.5")],
        );
        assert_eq!(c.addr, addr("203.0.113.9:0"));
        // Several header lines are one list, in order.
        let c = from(
            PROXY,
            &[
                ("X-Forwarded-For", "1.1.1.1"),
                ("x-forwarded-for", "203.0.113.9:4711"),
            ],
        );
        assert_eq!(c.addr, addr("203.0.113.9:4711"));
        // IPv6, bare or bracketed with a port.
        let c = from(PROXY, &[("X-Forwarded-For", "2001:db8::1")]);
        assert_eq!(c.addr, addr("[2001:db8::1]:0"));
        let c = from(PROXY, &[("X-Forwarded-For", "[2001:db8::1]:443")]);
        assert_eq!(c.addr, addr("[2001:db8::1]:443"));
    }

    #[test]
    fn forwarded_follows_rfc_7239() {
        // RFC 7239 §4 and §7.1 examples.
        let c = from(
            PROXY,
            &[("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
        );
        assert_eq!(c.addr, addr("192.0.2.60:0"));
        assert_eq!(c.proto, Some(Proto::Http));
        let c = from(PROXY, &[("Forwarded", r#"For="[2001:db8:cafe::17]:4711""#)]);
        assert_eq!(c.addr, addr("[2001:db8:cafe::17]:4711"));
        let c = from(
            PROXY,
            &[(
                "Forwarded",
                "for=192.0.2.43, for=198.51.100.17;proto=https;host=chat.example",
            )],
        );
        assert_eq!(c.addr, addr("198.51.100.17:0"));
        assert_eq!(c.own_origin(None).as_deref(), Some("https://chat.example"));
        // Quoted values may hold the separators.
        let c = from(
            PROXY,
            &[(
                "Forwarded",
                r#"for="198.51.100.17:8443";host="chat.example:8443";proto=HTTPS"#,
            )],
        );
        assert_eq!(c.addr, addr("198.51.100.17:8443"));
        assert_eq!(
            c.own_origin(None).as_deref(),
            Some("https://chat.example:8443")
        );
        // Forwarded wins over the X- family.
        let c = from(
            PROXY,
            &[
                ("X-Forwarded-For", "1.1.1.1"),
                ("Forwarded", "for=198.51.100.17"),
            ],
        );
        assert_eq!(c.addr, addr("198.51.100.17:0"));
    }

    #[test]
    fn hidden_clients_stop_at_the_hop_that_hid_them() {
        // §6.2 unknown, §6.3 obfuscated: the client is not named; the proxy that wrote the hop
        // (here the peer itself) is the nearest address known, and its proto/host still count.
        for hidden in [
            "for=unknown;proto=https",
            "for=_hidden;proto=https",
            r#"for="_x:_y";proto=https"#,
        ] {
            let c = from(PROXY, &[("Forwarded", hidden)]);
            assert_eq!(c.addr, addr(PROXY), "{hidden}");
            assert_eq!(c.proto, Some(Proto::Https), "{hidden}");
        }
        let c = from(
            PROXY,
            &[("Forwarded", "for=198.51.100.17, for=unknown, for=10.0.0.5")],
        );
        assert_eq!(c.addr, addr("10.0.0.5:0"));
        // A repeated parameter spoils its element: an injected second `for` does not win.
        let injected = r#"for="198.51.100.17:4711";proto=https;host="a";for="1.2.3.4""#;
        let c = from(PROXY, &[("Forwarded", injected)]);
        assert_eq!(c, Client::direct(addr(PROXY)));
        // An obfuscated port is no port.
        let c = from(PROXY, &[("Forwarded", r#"for="198.51.100.17:_p""#)]);
        assert_eq!(c.addr, addr("198.51.100.17:0"));
    }

    #[test]
    fn an_all_trusted_chain_began_at_its_first_hop() {
        let c = from(PROXY, &[("X-Forwarded-For", "10.0.0.7, 10.0.0.5")]);
        assert_eq!(c.addr, addr("10.0.0.7:0"));
    }

    #[test]
    fn garbage_and_floods_fall_back_to_the_peer_and_never_panic() {
        let peer = addr(PROXY);
        let long_trusted = vec!["10.0.0.1"; MAX_HOPS + 1].join(",");
        let huge = "x".repeat(1 << 20);
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("X-Forwarded-For", "")],
            vec![("X-Forwarded-For", "not an address")],
            vec![("X-Forwarded-For", "203.0.113.9:99999")],
            vec![("X-Forwarded-For", "203.0.113.9:")],
            vec![("X-Forwarded-For", "[2001:db8::1")],
            vec![("X-Forwarded-For", "1.2.3.4.5")],
            vec![("X-Forwarded-For", &long_trusted)],
            vec![("X-Forwarded-For", &huge)],
            vec![("Forwarded", "")],
            vec![("Forwarded", "for")],
            vec![("Forwarded", "for=")],
            vec![("Forwarded", "for=\"")],
            vec![("Forwarded", "for=\"1.2.3.4")],
            vec![("Forwarded", "for=\"\\\"1.2.3.4\"")],
            vec![("Forwarded", "=;=;,,;;")],
            vec![("Forwarded", "for=é;proto=ü")],
            vec![("Forwarded", &huge)],
        ];
        for case in &cases {
            let c = from(PROXY, case);
            assert_eq!(c.addr, peer, "{:?}", &case[0].1[..case[0].1.len().min(40)]);
            assert_eq!(c.proto, None);
            assert_eq!(c.host, None);
        }
        // 131,072 fake hops in front of the real one: still the real one, in linear time.
        for (name, prefix) in [("X-Forwarded-For", ""), ("Forwarded", "for=")] {
            let mut many = format!("{prefix}1.1.1.1,").repeat(1 << 17);
            many.push_str(&format!("{prefix}203.0.113.9"));
            let c = from(PROXY, &[(name, &many)]);
            assert_eq!(c.addr, addr("203.0.113.9:0"), "{name}");
        }
    }

    #[test]
    fn reported_schemes_and_hosts_must_look_like_them() {
        for (proto, host) in [
            ("gopher", "chat.example/evil"),
            ("https x", "a b"),
            ("", "\"q\""),
        ] {
            let c = from(
                PROXY,
                &[
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("X-Forwarded-Proto", proto),
                    ("X-Forwarded-Host", host),
                ],
            );
            assert_eq!((c.proto, c.host), (None, None), "{proto:?} {host:?}");
        }
        let long = format!("{}.example", "a".repeat(MAX_HOST));
        assert_eq!(from(PROXY, &[("X-Forwarded-Host", &long)]).host, None);
        // Two proxies each added a value: the nearest one's counts.
        let c = from(
            PROXY,
            &[
                ("X-Forwarded-Proto", "http, https"),
                ("X-Forwarded-Host", "[::1]:8443"),
            ],
        );
        assert_eq!(c.own_origin(None).as_deref(), Some("https://[::1]:8443"));
        // No proxy, no proxy-reported origin: the request's own Host over plain http.
        assert_eq!(
            Client::direct(addr(PROXY))
                .own_origin(Some("127.0.0.1:8080"))
                .as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(Client::direct(addr(PROXY)).own_origin(None), None);
    }
}
