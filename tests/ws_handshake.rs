//! The opening handshake over real sockets on 127.0.0.1 (RFC 6455 §4), plus a randomized
//! run of the head parser and request check.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use plainsock::http::{self, HeadParser, HttpError};
use plainsock::rand::SplitMix64;
use plainsock::ws::handshake::{self, accept_key};
use plainsock::ws::server::{self, PendingUpgrade};
use plainsock::ws::{Config, Error, client};

/// Generous bound for anything that should happen "soon" on loopback.
const PATIENCE: Duration = Duration::from_secs(5);

const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A server that takes one connection and runs `read_upgrade` on it.
fn serve_once(
    config: Config,
) -> (
    SocketAddr,
    thread::JoinHandle<Result<PendingUpgrade, Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().map_err(Error::Io)?;
        server::read_upgrade(stream, &config)
    });
    (addr, server)
}

/// What a raw client saw: the bytes until the server closed, and whether it did close.
struct Seen {
    bytes: Vec<u8>,
    closed: bool,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    fn status(&self) -> u16 {
        self.text()
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Reads until EOF (closed) or until PATIENCE runs out (not closed).
fn read_to_close(mut stream: &TcpStream) -> Seen {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Seen {
                    bytes,
                    closed: true,
                };
            }
            Ok(n) if bytes.len() < 1 << 20 => bytes.extend_from_slice(&chunk[..n]),
            Ok(_) | Err(_) => {
                return Seen {
                    bytes,
                    closed: false,
                };
            }
        }
    }
}

/// Sends `request` in one write and reads the answer until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> Seen {
    let mut stream = TcpStream::connect(addr).unwrap();
    // The server may refuse before it read everything; a failed write is fine then.
    let _ = stream.write_all(request);
    read_to_close(&stream)
}

fn handshake_status(result: Result<PendingUpgrade, Error>) -> u16 {
    match result {
        Err(Error::Handshake { status, .. }) => status,
        Err(e) => panic!("expected a handshake refusal, got {e}"),
        Ok(p) => panic!("expected a refusal, got an upgrade for {}", p.path()),
    }
}

#[test]
fn refusals_get_the_right_status_and_a_closed_connection() {
    let good = RFC_REQUEST;
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(9000)
    );
    let tiny_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "a:\r\n".repeat(10_000));
    let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(101));
    let mut random = vec![0u8; 64];
    SplitMix64::new(6455).fill(&mut random);
    // The start of a real TLS 1.2 ClientHello record.
    let client_hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xab\xcd\xef".to_vec();

    let rows: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "missing key",
            good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")
                .into(),
            400,
            "missing Sec-WebSocket-Key",
        ),
        (
            "short key",
            good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=").into(),
            400,
            "bad Sec-WebSocket-Key",
        ),
        (
            "no Upgrade",
            good.replace("Upgrade: websocket\r\n", "").into(),
            400,
            "Upgrade: websocket",
        ),
        (
            "no Connection",
            good.replace("Connection: Upgrade\r\n", "").into(),
            400,
            "Connection: Upgrade",
        ),
        (
            "no Host",
            good.replace("Host: server.example.com\r\n", "").into(),
            400,
            "Host",
        ),
        (
            "bad request line",
            good.replace("GET /chat HTTP/1.1", "GET/chat HTTP/1.1")
                .into(),
            400,
            "request line",
        ),
        ("random bytes", random, 400, "not HTTP"),
        ("TLS ClientHello", client_hello, 400, "TLS"),
        (
            "version 8",
            good.replace("Version: 13", "Version: 8").into(),
            426,
            "Sec-WebSocket-Version: 13",
        ),
        (
            "POST",
            good.replace("GET", "POST").into(),
            405,
            "Allow: GET",
        ),
        (
            "9000-byte header",
            huge_header.into(),
            431,
            "larger than 8192",
        ),
        (
            "10,000 tiny headers",
            tiny_headers.into(),
            431,
            "larger than 8192",
        ),
        ("101 headers", many_headers.into(), 431, "more than 100"),
    ];
    for (name, request, status, says) in rows {
        let (addr, server) = serve_once(Config::default());
        let seen = exchange(addr, &request);
        assert_eq!(seen.status(), status, "{name}: {}", seen.text());
        assert!(
            seen.text().contains(says),
            "{name}: {:?} should contain {says:?}",
            seen.text()
        );
        assert!(seen.closed, "{name}: connection left open");
        assert_eq!(handshake_status(server.join().unwrap()), status, "{name}");
    }
}

#[test]
fn a_good_request_gets_101_with_the_rfc_accept_value() {
    let (addr, server) = serve_once(Config::default());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(RFC_REQUEST.as_bytes()).unwrap();
    let pending = server.join().unwrap().unwrap();
    assert_eq!(pending.path(), "/chat");
    assert_eq!(pending.origin(), Some("http://example.com"));
    assert_eq!(pending.protocols(), ["chat", "superchat"]);
    let ws = pending.accept(None).unwrap();

    let (head, _) = http::read_head(&stream, 8192, Instant::now() + PATIENCE).unwrap();
    let response = http::parse_response(&head).unwrap();
    assert_eq!(response.status, 101);
    assert_eq!(
        response.header("Sec-WebSocket-Accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert!(response.has_token("Upgrade", "websocket"));
    assert!(response.has_token("Connection", "upgrade"));
    assert_eq!(response.header("Sec-WebSocket-Protocol"), None);
    assert_eq!(
        ws.get_ref().peer_addr().unwrap(),
        stream.local_addr().unwrap()
    );
}

#[test]
fn bytes_after_the_request_head_reach_the_websocket() {
    let (addr, server) = serve_once(Config::default());
    let mut stream = TcpStream::connect(addr).unwrap();
    // A masked text frame "hi" right behind the head, in the same write (same packet).
    let frame = b"\x81\x82\x01\x02\x03\x04\x69\x6b";
    let mut packet = RFC_REQUEST.as_bytes().to_vec();
    packet.extend_from_slice(frame);
    stream.write_all(&packet).unwrap();
    let pending = server.join().unwrap().unwrap();
    assert_eq!(pending.leftover(), frame);
    assert!(pending.accept(None).is_ok());
}

#[test]
fn the_caller_routes_and_checks_the_origin_before_accepting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let pending = server::read_upgrade(stream, &Config::default()).unwrap();
            match (pending.path(), pending.origin()) {
                ("/chat", Some("http://example.com")) => drop(pending.accept(None).unwrap()),
                ("/chat", _) => pending.reject(403, "foreign origin").unwrap(),
                _ => pending.reject(404, "no such path").unwrap(),
            }
        }
    });
    let evil = RFC_REQUEST.replace("http://example.com", "http://evil.example");
    let seen = exchange(addr, evil.as_bytes());
    assert_eq!(seen.status(), 403);
    assert!(seen.text().ends_with("foreign origin") && seen.closed);

    match client::connect(&format!("ws://{addr}/nope")) {
        Err(Error::Handshake { status, reason }) => {
            assert_eq!(status, 404);
            assert_eq!(reason, "Not Found: no such path");
        }
        Err(e) => panic!("expected a 404 refusal, got {e}"),
        Ok(_) => panic!("expected a 404 refusal, got a WebSocket"),
    }
    server.join().unwrap();
}

/// Runs a raw client that sends `dribble` one byte every 50 ms (none if empty) against a
/// server with a 300 ms handshake timeout; returns what it saw and when the server closed.
fn stall(dribble: &'static [u8]) -> (Seen, Duration, Result<PendingUpgrade, Error>) {
    let timeout = Duration::from_millis(300);
    let config = Config {
        handshake_timeout: timeout,
        ..Config::default()
    };
    let (addr, server) = serve_once(config);
    let started = Instant::now();
    let stream = TcpStream::connect(addr).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = stream.try_clone().unwrap();
    let stop_writer = Arc::clone(&stop);
    let sender = thread::spawn(move || {
        for byte in dribble {
            if stop_writer.load(Ordering::Relaxed) || writer.write_all(&[*byte]).is_err() {
                break;
            }
            // Pacing the attack, not waiting for the server: this is the slow client.
            thread::sleep(Duration::from_millis(50));
        }
    });
    let seen = read_to_close(&stream);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();
    (seen, elapsed, server.join().unwrap())
}

#[test]
fn slow_loris_is_cut_at_the_deadline() {
    // 100 bytes at 50 ms each would take 5 s; every single read is fast, only the
    // deadline over the whole head can stop it.
    let (seen, elapsed, result) = stall(&[b'X'; 100]);
    assert!(seen.closed, "still open after {elapsed:?}");
    assert_eq!(seen.status(), 408);
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < PATIENCE,
        "{elapsed:?}"
    );
    assert_eq!(handshake_status(result), 408);
}

#[test]
fn a_silent_connection_is_dropped_at_the_deadline() {
    let (seen, elapsed, result) = stall(b"");
    assert!(seen.closed, "still open after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < PATIENCE,
        "{elapsed:?}"
    );
    assert_eq!(handshake_status(result), 408);
}

#[test]
fn subprotocol_is_the_clients_first_choice_the_server_supports() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let pending = server::read_upgrade(stream, &Config::default()).unwrap();
        let picked = pending.choose_protocol(&["chat", "superchat"]);
        let ws = pending.accept(picked.as_deref()).unwrap();
        (picked, ws)
    });
    let url = format!("ws://{addr}/chat");
    let (ws, response) =
        client::connect_with(&url, Config::default(), &["superchat", "chat"]).unwrap();
    let (picked, server_ws) = server.join().unwrap();
    assert_eq!(picked.as_deref(), Some("superchat"));
    assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("superchat"));
    assert_eq!(
        ws.get_ref().local_addr().unwrap(),
        server_ws.get_ref().peer_addr().unwrap()
    );
}

#[test]
fn accepting_a_protocol_the_client_did_not_offer_is_refused() {
    let (addr, server) = serve_once(Config::default());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(RFC_REQUEST.as_bytes()).unwrap();
    let result = server.join().unwrap().unwrap().accept(Some("mqtt"));
    assert!(matches!(result, Err(Error::Handshake { status: 500, .. })));
    let seen = read_to_close(&stream);
    assert_eq!(seen.status(), 500);
    assert!(seen.closed);
}

/// A fake server: reads one request head, answers with `answer(key)` and closes.
fn fake_server(answer: fn(&str) -> Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let (request, _) = http::read_request_head(&stream, 8192, PATIENCE).unwrap();
        let key = request
            .header("Sec-WebSocket-Key")
            .unwrap_or_default()
            .to_string();
        stream.write_all(&answer(&key)).unwrap();
    });
    (addr, server)
}

fn connect_error(addr: SocketAddr, config: Config) -> Error {
    match client::connect_with(&format!("ws://{addr}/"), config, &[]) {
        Err(e) => e,
        Ok(_) => panic!("connect should have failed"),
    }
}

#[test]
fn client_rejects_a_wrong_accept_value() {
    let (addr, server) = fake_server(|_| {
        handshake::response_101("AAAAAAAAAAAAAAAAAAAAAA==", None) // accept for another key
    });
    match connect_error(addr, Config::default()) {
        Error::Handshake {
            status: 101,
            reason,
        } => assert!(reason.contains("Sec-WebSocket-Accept"), "{reason}"),
        e => panic!("expected a wrong-accept refusal, got {e}"),
    }
    server.join().unwrap();
}

#[test]
fn client_reports_the_refusal_status_line_and_body() {
    let (addr, server) = fake_server(|_| {
        let mut out = Vec::new();
        http::write_response(
            &mut out,
            404,
            &[("Content-Type", "text/plain")],
            b"no chat here\n",
        )
        .unwrap();
        out
    });
    match connect_error(addr, Config::default()) {
        Error::Handshake { status, reason } => {
            assert_eq!(status, 404);
            assert_eq!(reason, "Not Found: no chat here");
        }
        e => panic!("expected a 404, got {e}"),
    }
    server.join().unwrap();
}

#[test]
fn client_gives_up_on_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        handshake_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let started = Instant::now();
    match connect_error(addr, config) {
        Error::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
        e => panic!("expected a timeout, got {e}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < PATIENCE,
        "{elapsed:?}"
    );
    drop(listener); // the connection sat in the accept queue all along
}

#[test]
fn client_and_server_agree() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let pending = server::read_upgrade(stream, &Config::default()).unwrap();
        let seen = (
            pending.path().to_string(),
            pending.query().map(str::to_string),
        );
        let host = pending.request.header("Host").map(str::to_string);
        (seen, host, pending.accept(None).unwrap())
    });
    let ws = client::connect(&format!("ws://{addr}/chat?room=1")).unwrap();
    let (seen, host, server_ws) = server.join().unwrap();
    assert_eq!(seen, ("/chat".to_string(), Some("room=1".to_string())));
    assert_eq!(host, Some(addr.to_string()));
    assert_eq!(ws.get_ref().peer_addr().unwrap(), addr);
    assert_eq!(
        server_ws.get_ref().peer_addr().unwrap(),
        ws.get_ref().local_addr().unwrap()
    );
}

// ---------------------------------------------------------------------------------------
// Randomized: at least 10,000 random and mutated requests into the parser and the check.

/// One mutation of a request, chosen by `rng`.
fn mutate(rng: &mut SplitMix64, request: &mut Vec<u8>) {
    let at = |rng: &mut SplitMix64, v: &Vec<u8>| rng.below(v.len() as u64 + 1) as usize;
    match rng.below(12) {
        0 => {
            let i = at(rng, request).min(request.len().saturating_sub(1));
            if let Some(b) = request.get_mut(i) {
                *b = rng.next_u64() as u8;
            }
        }
        1 => {
            let i = at(rng, request);
            request.insert(i, rng.next_u64() as u8);
        }
        2 => {
            let (a, b) = (at(rng, request), at(rng, request));
            request.drain(a.min(b)..a.max(b));
        }
        3 => {
            let i = at(rng, request);
            let piece: &[u8] = [
                &b"\r\n"[..],
                b"\n",
                b"\r",
                b": ",
                b" ",
                b"\t",
                b",",
                b"\x00",
            ][rng.below(8) as usize];
            request.splice(i..i, piece.iter().copied());
        }
        4 => {
            let method: &[u8] = [&b"POST"[..], b"get", b"PUT", b"G@T", b""][rng.below(5) as usize];
            let end = request.len().min(3);
            request.splice(0..end, method.iter().copied());
        }
        5 => replace(
            request,
            b"Version: 13",
            [&b"Version: 8"[..], b"Version: 13, 8", b"Version:"][rng.below(3) as usize],
        ),
        6 => replace(
            request,
            b"dGhlIHNhbXBsZSBub25jZQ==",
            [
                &b"dGhlIHNhbXBsZSBub25jZQ"[..],
                b"====",
                b"AAAAAAAAAAAAAAAAAAAAAA==",
            ][rng.below(3) as usize],
        ),
        7 => {
            let count = [50, 100, 101, 3000][rng.below(4) as usize];
            let extra = "X-N: v\r\n".repeat(count);
            replace(request, b"Origin", format!("{extra}Origin").as_bytes());
        }
        8 => replace(
            request,
            b"HTTP/1.1",
            // 1.0 is served, but not upgraded (400); 2.0 is not spoken (505).
            [
                &b"HTTP/1.0"[..],
                b"HTTP/2.0",
                b"HTTP/2",
                b"http/1.1",
                b"HTTP/1.1 ",
            ][rng.below(5) as usize],
        ),
        9 => request.make_ascii_lowercase(),
        10 => {
            let big = "y".repeat(rng.below(10_000) as usize);
            replace(request, b"Origin: ", format!("Origin: {big}").as_bytes());
        }
        _ => {
            // Swap two lines.
            let lines: Vec<Vec<u8>> = request.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let (a, b) = (
                rng.below(lines.len() as u64) as usize,
                rng.below(lines.len() as u64) as usize,
            );
            let mut lines = lines;
            lines.swap(a, b);
            *request = lines.join(&b'\n');
        }
    }
}

fn replace(request: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    if let Some(i) = request.windows(from.len()).position(|w| w == from) {
        request.splice(i..i + from.len(), to.iter().copied());
    }
}

/// Runs one request through the parser (in random pieces) and the check, like the server.
fn verdict(rng: &mut SplitMix64, request: &[u8]) -> Result<String, HttpError> {
    let mut parser = HeadParser::new(8192);
    let mut rest = request;
    let mut complete = false;
    while !rest.is_empty() && !complete {
        let n = (rng.below(64) as usize + 1).min(rest.len());
        complete = parser.feed(&rest[..n])?;
        rest = &rest[n..];
    }
    if !complete {
        // A real peer would time out (408); give the parser its end so it judges the rest.
        parser.feed(b"\r\n\r\n")?;
    }
    let (head, _leftover) = parser
        .into_parts()
        .ok_or_else(|| HttpError::new(0, "no head after \\r\\n\\r\\n"))?;
    let request = http::parse_request(&head)?;
    handshake::check_request(&request)
}

#[test]
fn randomized_requests_get_an_upgrade_or_a_typed_refusal() {
    let seed = std::env::var("PLAINSOCK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6455_2011_u64);
    let mut rng = SplitMix64::new(seed);
    let mut seen = std::collections::BTreeMap::new();
    for case in 0..12_000 {
        let mut request = if rng.below(5) == 0 {
            let mut junk = vec![0u8; rng.below(300) as usize];
            rng.fill(&mut junk);
            junk
        } else {
            let mut r = RFC_REQUEST.as_bytes().to_vec();
            for _ in 0..rng.below(4) {
                mutate(&mut rng, &mut r);
            }
            r
        };
        if rng.below(3) == 0 {
            request.extend_from_slice(b"\x81\x80\0\0\0\0"); // a first frame behind the head
        }
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verdict(&mut rng, &request)));
        let context = || {
            format!(
                "seed {seed} (PLAINSOCK_SEED), case {case}: {:?}",
                String::from_utf8_lossy(&request)
            )
        };
        let status = match outcome {
            Ok(Ok(key)) => {
                assert_eq!(accept_key(&key).len(), 28, "{}", context());
                101
            }
            Ok(Err(e)) => {
                assert!(
                    [400, 405, 414, 426, 431, 505].contains(&e.status),
                    "status {} ({}) for {}",
                    e.status,
                    e.reason,
                    context()
                );
                e.status
            }
            Err(_) => panic!("panic for {}", context()),
        };
        *seen.entry(status).or_insert(0) += 1;
    }
    // The generator must reach every outcome, or the test proves little.
    for status in [101, 400, 405, 426, 431, 505] {
        assert!(
            seen.contains_key(&status),
            "seed {seed}: no case ended in {status}: {seen:?}"
        );
    }
}

#[test]
fn both_ends_turn_nagle_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let socket =
            plainsock::ws::server::accept(stream, &plainsock::ws::Config::default()).unwrap();
        socket.get_ref().nodelay().unwrap()
    });
    let client = plainsock::ws::client::connect(&format!("ws://{addr}/")).unwrap();
    assert!(client.get_ref().nodelay().unwrap(), "client: TCP_NODELAY");
    assert!(server.join().unwrap(), "server: TCP_NODELAY");
}
