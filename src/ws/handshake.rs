//! RFC 6455 §4: the opening handshake, as pure functions over parsed HTTP heads.
//! The socket glue lives in `server.rs` and `client.rs`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::http::{HttpError, Request, Response, Version};
use crate::url::Url;

/// RFC 6455 §1.3: the GUID appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// RFC 6455 §4.1: the only protocol version there is.
pub const VERSION: &str = "13";

/// RFC 6455 §4.2.2: `Sec-WebSocket-Accept = base64(SHA-1(key + GUID))`. It proves the server
/// read this very request, so a cache or a confused HTTP server cannot fake an upgrade.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    BASE64.encode(sha1.digest().bytes())
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
pub fn new_key() -> String {
    BASE64.encode(crate::rand::handshake_key())
}

/// Does the request ask for a WebSocket at all? Lets a server tell page requests from
/// upgrades before running the full [`check_request`].
pub fn wants_upgrade(req: &Request) -> bool {
    req.has_token("Upgrade", "websocket")
}

/// RFC 6455 §4.2.1: checks an upgrade request; returns its `Sec-WebSocket-Key`.
/// The error's status is the answer to send: 405, 426 or 400 (the reason says which field).
pub fn check_request(req: &Request) -> Result<String, HttpError> {
    if req.method != "GET" {
        return Err(HttpError::new(
            405,
            format!(
                "method {} not allowed: a WebSocket upgrade uses GET",
                req.method
            ),
        ));
    }
    // RFC 6455 §4.2.1: "an HTTP/1.1 or higher GET request".
    if req.version == Version::Http10 {
        return Err(HttpError::new(
            400,
            "a WebSocket upgrade needs HTTP/1.1, not HTTP/1.0",
        ));
    }
    match req.header_count("Host") {
        0 => return Err(HttpError::new(400, "missing Host header")),
        1 => {}
        _ => return Err(HttpError::new(400, "more than one Host header")),
    }
    if !wants_upgrade(req) {
        return Err(HttpError::new(400, "missing `Upgrade: websocket` header"));
    }
    if !req.has_token("Connection", "Upgrade") {
        return Err(HttpError::new(400, "missing `Connection: Upgrade` header"));
    }
    match (
        req.header_count("Sec-WebSocket-Version"),
        req.header("Sec-WebSocket-Version"),
    ) {
        (0, _) => return Err(HttpError::new(400, "missing Sec-WebSocket-Version header")),
        (1, Some(VERSION)) => {}
        (_, v) => {
            let v = v.unwrap_or_default();
            return Err(HttpError::new(
                426,
                format!("WebSocket version {v:?} not supported: use 13"),
            ));
        }
    }
    // §11.3.1: the key appears once and is base64 of 16 bytes (24 characters with padding).
    let key = match (
        req.header_count("Sec-WebSocket-Key"),
        req.header("Sec-WebSocket-Key"),
    ) {
        (1, Some(key)) => key,
        (0, _) => return Err(HttpError::new(400, "missing Sec-WebSocket-Key header")),
        _ => {
            return Err(HttpError::new(
                400,
                "more than one Sec-WebSocket-Key header",
            ));
        }
    };
    let decodes_to_16 = key.len() == 24 && BASE64.decode(key).is_ok_and(|k| k.len() == 16);
    if !decodes_to_16 {
        return Err(HttpError::new(
            400,
            "bad Sec-WebSocket-Key: must be base64 of 16 bytes",
        ));
    }
    Ok(key.to_string())
}

/// The headers a refusal carries besides its body: 405 says what is allowed (RFC 9110
/// §15.5.6), 426 says which WebSocket version we speak (RFC 6455 §4.4).
pub fn refusal_headers(status: u16) -> &'static [(&'static str, &'static str)] {
    const TEXT: (&str, &str) = ("Content-Type", "text/plain; charset=utf-8");
    match status {
        405 => &[TEXT, ("Allow", "GET")],
        426 => &[
            TEXT,
            ("Sec-WebSocket-Version", VERSION),
            ("Upgrade", "websocket"),
        ],
        _ => &[TEXT],
    }
}

/// The subprotocols the client offered, in its order of preference (RFC 6455 §4.1).
pub fn offered_protocols(req: &Request) -> Vec<&str> {
    req.tokens("Sec-WebSocket-Protocol").collect()
}

/// RFC 6455 §4.2.2: picks the client's most preferred subprotocol that we support.
pub fn choose_protocol(req: &Request, supported: &[&str]) -> Option<String> {
    offered_protocols(req)
        .into_iter()
        .find(|p| supported.contains(p))
        .map(str::to_string)
}

/// RFC 6455 §4.2.2: the server's `101 Switching Protocols` head for this key.
pub fn response_101(key: &str, protocol: Option<&str>) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(p) = protocol {
        head.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// RFC 6455 §4.1: the client's upgrade request for `url`. Protocol names must be tokens.
pub fn client_request(url: &Url, key: &str, protocols: &[&str]) -> Result<Vec<u8>, String> {
    if let Some(bad) = protocols
        .iter()
        .find(|p| p.is_empty() || !p.bytes().all(is_tchar))
    {
        return Err(format!("subprotocol name {bad:?} is not an HTTP token"));
    }
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {VERSION}\r\n",
        url.path,
        url.host_header()
    );
    if !protocols.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            protocols.join(", ")
        ));
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 6455 §4.1 (client side): checks a `101` answer to our request with `key`; returns
/// the subprotocol the server picked. The error says which check failed.
pub fn check_response(
    resp: &Response,
    key: &str,
    offered: &[&str],
) -> Result<Option<String>, String> {
    if resp.status != 101 {
        return Err(format!(
            "expected 101 Switching Protocols, got {}",
            resp.status
        ));
    }
    if !resp.has_token("Upgrade", "websocket") {
        return Err("101 without `Upgrade: websocket`".to_string());
    }
    if !resp.has_token("Connection", "Upgrade") {
        return Err("101 without `Connection: Upgrade`".to_string());
    }
    let expected = accept_key(key);
    if resp.header_count("Sec-WebSocket-Accept") != 1
        || resp.header("Sec-WebSocket-Accept") != Some(expected.as_str())
    {
        return Err("wrong Sec-WebSocket-Accept: the server did not answer our key".to_string());
    }
    // We offer no extensions (§9), so the server must not pick one.
    if resp.header("Sec-WebSocket-Extensions").is_some() {
        return Err("server chose an extension we did not offer".to_string());
    }
    let picked: Vec<&str> = resp.tokens("Sec-WebSocket-Protocol").collect();
    match picked.as_slice() {
        [] => Ok(None),
        [p] if offered.contains(p) => Ok(Some(p.to_string())),
        _ => Err("server chose a subprotocol we did not offer".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    #[test]
    fn rfc_6455_accept_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    const GOOD: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /// What the server answers: the head's own checks (e.g. Host) first, then the upgrade's.
    fn check(head: &str) -> Result<String, HttpError> {
        check_request(&parse_request(head.as_bytes())?)
    }

    fn status(head: &str) -> (u16, String) {
        match check(head) {
            Ok(_) => (101, String::new()),
            Err(e) => (e.status, e.reason),
        }
    }

    #[test]
    fn accepts_the_rfc_example_request() {
        assert_eq!(check(GOOD).unwrap(), "dGhlIHNhbXBsZSBub25jZQ==");
        // Tokens are case-insensitive and may sit in lists or repeated headers.
        let varied = GOOD
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace(
                "Connection: Upgrade",
                "Connection: keep-alive\r\nconnection: x, UPGRADE",
            );
        assert!(check(&varied).is_ok());
    }

    #[test]
    fn refusals_have_the_right_status_and_say_which_field() {
        let rows = [
            (GOOD.replace("GET", "POST"), 405, "method"),
            (GOOD.replace("HTTP/1.1", "HTTP/1.0"), 400, "HTTP/1.1"),
            (
                GOOD.replace("Host: server.example.com\r\n", ""),
                400,
                "Host",
            ),
            (
                GOOD.replace("Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n"),
                400,
                "Host",
            ),
            (
                GOOD.replace("Upgrade: websocket\r\n", ""),
                400,
                "Upgrade: websocket",
            ),
            (
                GOOD.replace("Upgrade: websocket", "Upgrade: h2c"),
                400,
                "Upgrade: websocket",
            ),
            (
                GOOD.replace("Connection: Upgrade", "Connection: keep-alive"),
                400,
                "Connection: Upgrade",
            ),
            (
                GOOD.replace("Sec-WebSocket-Version: 13\r\n", ""),
                400,
                "Version",
            ),
            (GOOD.replace("Version: 13", "Version: 8"), 426, "version"),
            (
                GOOD.replace("Version: 13", "Version: 13, 8"),
                426,
                "version",
            ),
            (
                GOOD.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                400,
                "missing Sec-WebSocket-Key",
            ),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"),
                400,
                "bad Sec-WebSocket-Key",
            ),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZXg="),
                400,
                "bad Sec-WebSocket-Key",
            ),
            (
                GOOD.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!=="),
                400,
                "bad Sec-WebSocket-Key",
            ),
            (
                GOOD.replace(
                    "Origin",
                    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nOrigin",
                ),
                400,
                "more than one",
            ),
        ];
        for (head, want, says) in rows {
            let (got, reason) = status(&head);
            assert_eq!(got, want, "{head}");
            assert!(reason.contains(says), "{reason:?} should mention {says:?}");
        }
    }

    #[test]
    fn subprotocol_is_the_clients_first_supported_choice() {
        let req = parse_request(GOOD.as_bytes()).unwrap();
        assert_eq!(offered_protocols(&req), ["chat", "superchat"]);
        assert_eq!(
            choose_protocol(&req, &["superchat", "chat"]).as_deref(),
            Some("chat")
        );
        assert_eq!(
            choose_protocol(&req, &["superchat"]).as_deref(),
            Some("superchat")
        );
        assert_eq!(choose_protocol(&req, &["mqtt"]), None);
    }

    #[test]
    fn client_checks_the_servers_answer() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = response_101(key, Some("chat"));
        let resp = crate::http::parse_response(&ok).unwrap();
        assert_eq!(
            check_response(&resp, key, &["chat"]),
            Ok(Some("chat".to_string()))
        );
        assert!(
            check_response(&resp, key, &["other"])
                .unwrap_err()
                .contains("subprotocol")
        );
        assert!(
            check_response(&resp, "AAAAAAAAAAAAAAAAAAAAAA==", &["chat"])
                .unwrap_err()
                .contains("Accept")
        );
        let plain = crate::http::parse_response(&response_101(key, None)).unwrap();
        assert_eq!(check_response(&plain, key, &[]), Ok(None));
        let mut no_upgrade = plain.clone();
        no_upgrade.headers.retain(|(n, _)| n != "Upgrade");
        assert!(
            check_response(&no_upgrade, key, &[])
                .unwrap_err()
                .contains("Upgrade")
        );
    }

    #[test]
    fn client_request_round_trips_through_the_server_check() {
        let url = Url::parse("ws://[::1]:9001/room?x=1").unwrap();
        let key = new_key();
        let head = client_request(&url, &key, &["a", "b"]).unwrap();
        let req = parse_request(&head).unwrap();
        assert_eq!(req.target, "/room?x=1");
        assert_eq!(req.header("Host"), Some("[::1]:9001"));
        assert_eq!(check_request(&req), Ok(key));
        assert_eq!(offered_protocols(&req), ["a", "b"]);
        assert!(client_request(&url, "k", &["bad name"]).is_err());
    }
}
