//! The few URLs plainsock understands, parsed by hand (RFC 3986 §3, RFC 6455 §3):
//! `ws://host[:port][/path][?query]`, `tcp://host:port` and `udp://host:port`.
//! `wss://` is refused with a clear message: plainsock speaks no TLS.

use std::fmt;
use std::net::Ipv6Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Ws,
    Tcp,
    Udp,
}

/// A parsed URL. `host` has no brackets (`::1`, not `[::1]`), ready for `(host, port)`
/// address lookup; `path` is `/` plus any query for ws, empty for tcp/udp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Why a URL was refused, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

fn err<T>(msg: impl Into<String>) -> Result<T, UrlError> {
    Err(UrlError(msg.into()))
}

impl Url {
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let Some((scheme, rest)) = input.split_once("://") else {
            return err(format!(
                "{input:?} has no scheme: expected tcp://HOST:PORT, udp://HOST:PORT or \
                 ws://HOST:PORT/PATH"
            ));
        };
        // RFC 3986 §3.1: schemes are case-insensitive.
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "tcp" => Scheme::Tcp,
            "udp" => Scheme::Udp,
            "wss" => return err("TLS is not supported (wss://): use ws://"),
            other => return err(format!("unknown scheme {other:?}: expected ws, tcp or udp")),
        };
        // RFC 6455 §3: fragments are meaningless for WebSocket URIs and MUST NOT be used.
        if rest.contains('#') {
            return err("a URL fragment (#...) is not allowed");
        }
        let split_at = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split_at);
        if authority.contains('@') {
            return err("user:password@ in the URL is not supported");
        }
        let (host, port) = split_host_port(authority)?;
        let port = match (port, scheme) {
            (Some(p), _) => p,
            (None, Scheme::Ws) => 80, // RFC 6455 §3: default port 80 for ws
            (None, _) => return err("tcp:// and udp:// need a port, as in tcp://HOST:PORT"),
        };
        let path = match scheme {
            Scheme::Ws if path.is_empty() => "/".to_string(),
            Scheme::Ws if path.starts_with('?') => format!("/{path}"),
            Scheme::Ws => path.to_string(),
            _ if path.is_empty() || path == "/" => String::new(),
            _ => return err("tcp:// and udp:// URLs take no path"),
        };
        // The path goes into the request line verbatim: only visible ASCII (RFC 3986 §2).
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return err("the path may hold only visible ASCII characters (percent-encode others)");
        }
        Ok(Url {
            scheme,
            host,
            port,
            path,
        })
    }

    /// `host:port` as the `Host` header wants it (RFC 9110 §7.2), brackets around IPv6.
    pub fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host[:port]` or `[v6]:port`; the host must be non-empty. (The Redis URL parser uses it too.)
pub fn split_host_port(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        // RFC 3986 §3.2.2: an IPv6 literal sits in brackets.
        let Some((v6, after)) = rest.split_once(']') else {
            return err("IPv6 address without closing ']'");
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return err(format!("{v6:?} is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(p) => Some(p),
                None => return err("unexpected text after ']': expected :PORT"),
            },
        };
        (v6, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return err("the URL has an empty host");
    }
    let name_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':');
    if !host.bytes().all(name_ok) {
        return err(format!("{host:?} is not a host name or address"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host.to_string(), port))
}

fn parse_port(text: &str) -> Result<u16, UrlError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!("bad port {text:?}: expected a number 1-65535"));
    }
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => err(format!("bad port {text:?}: expected a number 1-65535")),
    }
}

/// The value of `name` in the query of a request target (`/path?a=1&b=2`), as it was sent
/// (no percent-decoding: the values asked for this way are plain tokens). The first one wins.
pub fn query_param<'t>(target: &'t str, name: &str) -> Option<&'t str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Url {
        match Url::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn error_of(s: &str) -> String {
        match Url::parse(s) {
            Ok(u) => panic!("{s} parsed as {u:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn ws_defaults_and_parts() {
        let u = ok("ws://example.com");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Ws, "example.com", 80, "/")
        );
        let u = ok("WS://127.0.0.1:9001/chat?room=a");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9001, "/chat?room=a")
        );
        assert_eq!(ok("ws://h?x=1").path, "/?x=1");
        assert_eq!(ok("ws://h:81/").host_header(), "h:81");
    }

    #[test]
    fn ipv6_literals() {
        let u = ok("ws://[::1]:8080/ws");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8080, "/ws")
        );
        assert_eq!(u.host_header(), "[::1]:8080");
        assert_eq!(ok("ws://[fe80::1]").port, 80);
        assert!(error_of("ws://[::1").contains("']'"));
        assert!(error_of("ws://[nope]:80").contains("IPv6"));
        assert!(error_of("ws://[::1]x").contains("after ']'"));
    }

    #[test]
    fn tcp_and_udp_need_a_port() {
        let u = ok("tcp://localhost:7000");
        assert_eq!((u.scheme, u.port, u.path.as_str()), (Scheme::Tcp, 7000, ""));
        assert_eq!(ok("udp://10.0.0.1:53/").scheme, Scheme::Udp);
        assert!(error_of("udp://10.0.0.1").contains("need a port"));
        assert!(error_of("tcp://h:1/x").contains("no path"));
    }

    #[test]
    fn refusals_say_why() {
        assert!(error_of("wss://example.com/").contains("TLS is not supported"));
        assert!(error_of("http://x/").contains("unknown scheme"));
        let no_scheme = error_of("example.com:80");
        assert!(no_scheme.contains("no scheme"), "{no_scheme}");
        for scheme in ["tcp://", "udp://", "ws://"] {
            assert!(no_scheme.contains(scheme), "{no_scheme}");
        }
        assert!(error_of("ws://").contains("empty host"));
        assert!(error_of("ws://:80/").contains("empty host"));
        assert!(error_of("ws://h:/").contains("bad port"));
        assert!(error_of("ws://h:0/").contains("bad port"));
        assert!(error_of("ws://h:65536/").contains("bad port"));
        assert!(error_of("ws://h:+80/").contains("bad port"));
        assert!(error_of("ws://h:80:81/").contains("bad port"));
        assert!(error_of("ws://h/a#frag").contains("fragment"));
        assert!(error_of("ws://u:p@h/").contains("user"));
        assert!(error_of("ws://h/a b").contains("visible ASCII"));
        assert!(error_of("ws://h\r\nX: y/").contains("not a host"));
    }

    #[test]
    fn query_parameters_are_found_by_name() {
        let target = "/engine.io/?EIO=4&transport=polling&t=N8hyd6w&sid=";
        assert_eq!(query_param(target, "EIO"), Some("4"));
        assert_eq!(query_param(target, "transport"), Some("polling"));
        assert_eq!(query_param(target, "sid"), Some(""));
        assert_eq!(query_param(target, "missing"), None);
        assert_eq!(query_param("/a?flag&x=1&x=2", "flag"), Some(""));
        assert_eq!(query_param("/a?flag&x=1&x=2", "x"), Some("1"));
        assert_eq!(query_param("/a", "x"), None);
    }
}
