//! Client side of the opening handshake (RFC 6455 §4.1): `connect("ws://host:port/path")`.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::handshake;
use super::{Config, Error, Role, WebSocket};
use crate::http::{self, HeadError, Response};
use crate::url::{Scheme, Url};

/// How much of a refusal's body goes into `Error::Handshake`'s reason.
const EXCERPT: usize = 200;

/// Connects to a `ws://` URL with the default [`Config`] and no subprotocol.
///
/// ```
/// use plainsock::ws::{self, Message};
/// use std::net::TcpListener;
///
/// // A server that greets each client with one message.
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr()?;
/// let server = std::thread::spawn(move || -> Result<(), ws::Error> {
///     let (stream, _) = listener.accept()?;
/// #   stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
///     let mut socket = ws::server::accept(stream, &ws::Config::default())?;
///     socket.send(Message::Text("welcome".into()))
/// });
///
/// let mut socket = ws::client::connect(&format!("ws://{addr}/chat"))?;
/// # socket.get_ref().set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// assert_eq!(socket.read()?, Message::Text("welcome".into()));
/// server.join().expect("server thread")?;
///
/// // A refusal is an error that says why.
/// assert!(matches!(ws::client::connect("wss://example.com/"), Err(ws::Error::Url(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(url: &str) -> Result<WebSocket<TcpStream>, Error> {
    connect_with(url, Config::default(), &[]).map(|(ws, _)| ws)
}

/// Connects, offering `protocols` (most preferred first); returns the server's 101 head too,
/// whose `Sec-WebSocket-Protocol` says which one it picked. `config.handshake_timeout`
/// bounds connecting and the handshake together.
pub fn connect_with(
    url: &str,
    config: Config,
    protocols: &[&str],
) -> Result<(WebSocket<TcpStream>, Response), Error> {
    let url = Url::parse(url).map_err(|e| Error::Url(e.0))?;
    if url.scheme != Scheme::Ws {
        return Err(Error::Url("expected a ws:// URL".to_string()));
    }
    let deadline = Instant::now() + config.handshake_timeout;
    let stream = open(&url, deadline)?;
    let (response, leftover) = handshake(&stream, &url, protocols, config.max_head_size, deadline)?;
    // Frames are written whole, one call each: no reason to let Nagle hold small ones back.
    stream.set_nodelay(true).map_err(Error::Io)?;
    Ok((
        WebSocket::from_parts(stream, Role::Client, leftover, config),
        response,
    ))
}

/// Tries each address the host resolves to until one connects before `deadline`.
fn open(url: &Url, deadline: Instant) -> Result<TcpStream, Error> {
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(Error::Io)?;
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} has no address", url.host),
    );
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect timed out",
            )));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(Error::Io(last))
}

/// Sends the upgrade request and checks the answer; returns the 101 head and the bytes
/// read past it (the server may send its first frame right behind the head).
pub(crate) fn handshake(
    stream: &TcpStream,
    url: &Url,
    protocols: &[&str],
    limit: usize,
    deadline: Instant,
) -> Result<(Response, Vec<u8>), Error> {
    let key = handshake::new_key();
    let request = handshake::client_request(url, &key, protocols)
        .map_err(|e| Error::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let mut writer = stream;
    writer.write_all(&request).map_err(Error::Io)?;

    let (head, leftover) = match http::read_response_head(stream, limit, deadline) {
        Ok(parts) => parts,
        Err(HeadError::Io(e)) => return Err(Error::Io(e)),
        Err(HeadError::Http(e)) => return Err(not_http(e.reason)),
    };
    let response = http::parse_response(&head).map_err(|e| not_http(e.reason))?;
    if response.status != 101 {
        let excerpt = body_excerpt(stream, &response, leftover, deadline);
        let phrase = match response.reason.as_str() {
            "" => http::reason_phrase(response.status),
            reason => reason,
        };
        let reason = if excerpt.is_empty() {
            phrase.to_string()
        } else {
            format!("{phrase}: {excerpt}")
        };
        return Err(Error::Handshake {
            status: response.status,
            reason,
        });
    }
    match handshake::check_response(&response, &key, protocols) {
        Ok(_) => Ok((response, leftover)),
        Err(reason) => Err(Error::Handshake {
            status: response.status,
            reason,
        }),
    }
}

/// The server did not answer in HTTP at all (wrong port, another protocol).
fn not_http(reason: String) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid HTTP response: {reason}"),
    ))
}

/// What a refusal says, for the error: the first line of a `text/plain` body (plainsock's
/// refusals say why there, e.g. "the chat room is at /ws"), without the status it may repeat.
/// Other bodies (an HTML page) are left out: the status line says enough.
fn body_excerpt(
    mut stream: &TcpStream,
    response: &Response,
    mut body: Vec<u8>,
    deadline: Instant,
) -> String {
    let plain_text = response.header("Content-Type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("text/plain")
    });
    if !plain_text {
        return String::new();
    }
    let announced = response
        .header("Content-Length")
        .and_then(|n| n.parse::<usize>().ok());
    let want = announced.unwrap_or(0).min(EXCERPT);
    let mut chunk = [0u8; EXCERPT];
    while body.len() < want && !body.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    body.truncate(want);
    let text = String::from_utf8_lossy(&body);
    let first = text.lines().next().unwrap_or_default();
    let first = first
        .strip_prefix(&format!("{} ", response.status))
        .unwrap_or(first);
    let line: String = first
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    /// A one-shot fake server: reads the request head, answers `reply(key)` in one write.
    fn fake_server(reply: fn(&str) -> Vec<u8>) -> (Url, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("ws://{}/x", listener.local_addr().unwrap())).unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let (req, _) = http::read_request_head(&stream, 8192, Duration::from_secs(5)).unwrap();
            let key = req
                .header("Sec-WebSocket-Key")
                .unwrap_or_default()
                .to_string();
            stream.write_all(&reply(&key)).unwrap();
        });
        (url, server)
    }

    fn run(url: &Url) -> Result<(Response, Vec<u8>), Error> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = open(url, deadline)?;
        handshake(&stream, url, &[], 8192, deadline)
    }

    #[test]
    fn bytes_after_the_101_head_are_kept() {
        let (url, server) = fake_server(|key| {
            let mut out = handshake::response_101(key, None);
            out.extend_from_slice(b"\x81\x02hi");
            out
        });
        let (response, leftover) = run(&url).unwrap();
        assert_eq!(response.status, 101);
        assert_eq!(leftover, b"\x81\x02hi");
        server.join().unwrap();
    }

    #[test]
    fn a_non_http_answer_is_invalid_data() {
        let (url, server) = fake_server(|_| b"\x00\x01\x02 binary\r\n\r\n".to_vec());
        match run(&url) {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            other => panic!("{:?}", other.map(|(r, _)| r)),
        }
        server.join().unwrap();
    }

    #[test]
    fn a_chat_greeting_instead_of_http_fails_at_once_quoting_it() {
        // The TCP chat port greets at once and never sends a blank line: do not wait for one.
        let (url, server) = fake_server(|_| b"* welcome, you are guest-1 (1 online)\n".to_vec());
        let started = Instant::now();
        let err = run(&url).map(|(r, _)| r).unwrap_err().to_string();
        assert!(err.contains("* welcome, you are guest-1"), "{err}");
        assert!(err.contains("not HTTP"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it waited for the timeout"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_refusal_says_its_status_line_and_the_first_line_of_a_plain_text_body() {
        let (url, server) = fake_server(|_| {
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 33\r\n\r\n400 the chat room is at /ws\nmore\n".to_vec()
        });
        let err = run(&url).map(|(r, _)| r).unwrap_err().to_string();
        assert_eq!(
            err,
            "WebSocket handshake refused: 400 Bad Request: the chat room is at /ws"
        );
        server.join().unwrap();
        // An HTML page is not quoted.
        let (url, server) = fake_server(|_| {
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<!doctype html>".to_vec()
        });
        let err = run(&url).map(|(r, _)| r).unwrap_err().to_string();
        assert_eq!(err, "WebSocket handshake refused: 200 OK");
        server.join().unwrap();
    }

    #[test]
    fn bad_urls_are_url_errors() {
        for url in ["wss://example.com/", "tcp://127.0.0.1:1", "ws://", "nope"] {
            assert!(matches!(connect(url), Err(Error::Url(_))), "{url}");
        }
    }
}
