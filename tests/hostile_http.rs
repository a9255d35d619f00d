//! Hostile input on the HTTP port (`--ws`): every row gets its exact answer and a closed
//! connection, while a TCP and a WebSocket member chatting at the same time notice nothing.

mod common;
mod hostile;

use common::server;
use hostile::{Witness, answer, read_to_close, status_line};
use plainsock::Server;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);

fn start() -> (Server, Witness) {
    let server = server(|c| c.handshake_timeout = HANDSHAKE_TIMEOUT);
    let witness = Witness::join(&server);
    (server, witness)
}

/// A well-formed upgrade request with `headers` instead of the usual key and version lines.
fn upgrade_with(addr: std::net::SocketAddr, headers: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{headers}\r\n"
    )
}

/// Sends `request`, checks the status line and a piece of the body, and that the room is fine.
fn refused(request: &[u8], status: &str, says: &str) {
    let (server, mut witness) = start();
    let got = answer(server.ws_addr().unwrap(), request);
    assert_eq!(status_line(&got), status, "{got}");
    assert!(got.contains(says), "{got}");
    witness.still_chatting();
    witness.only_witness_threads_left(&server);
}

#[test]
fn random_bytes_get_400_not_http() {
    // Fixed "random" bytes (a SplitMix-like sequence), starting with a byte no request line has.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = vec![0x01];
    bytes.extend((0..4096).map(|_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 56) as u8
    }));
    refused(&bytes, "HTTP/1.1 400 Bad Request", "not HTTP");
}

#[test]
fn a_tls_client_hello_gets_400_naming_tls() {
    // The first bytes of a real TLS 1.2/1.3 ClientHello: record type 22, version 3.1.
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0xAB; 32]); // client random
    hello.extend_from_slice(&[0x20; 33]); // session id
    refused(&hello, "HTTP/1.1 400 Bad Request", "TLS ClientHello");
}

#[test]
fn a_request_head_over_the_limit_gets_431() {
    let mut request = b"GET /ws HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 20_000));
    request.extend_from_slice(b"\r\n\r\n");
    refused(
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "larger than 8192 bytes",
    );
}

#[test]
fn a_request_line_without_end_gets_414() {
    // RFC 9112 §3: a request target longer than the server parses is 414 URI Too Long.
    let mut request = b"GET /".to_vec();
    request.extend(std::iter::repeat_n(b'a', 1 << 20));
    refused(
        &request,
        "HTTP/1.1 414 URI Too Long",
        "request line longer than 8192 bytes",
    );
}

#[test]
fn ten_thousand_tiny_headers_get_431() {
    let mut request = b"GET /ws HTTP/1.1\r\n".to_vec();
    for _ in 0..10_000 {
        request.extend_from_slice(b"a:b\r\n");
    }
    request.extend_from_slice(b"\r\n");
    refused(
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "larger than 8192 bytes",
    );
}

#[test]
fn more_than_100_header_lines_within_the_size_limit_get_431() {
    let mut request = b"GET /ws HTTP/1.1\r\nHost: x\r\n".to_vec();
    for _ in 0..101 {
        request.extend_from_slice(b"a:b\r\n");
    }
    request.extend_from_slice(b"\r\n");
    assert!(request.len() < 8192);
    refused(
        &request,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "more than 100 header lines",
    );
}

#[test]
fn a_missing_key_gets_400() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let request = upgrade_with(addr, "Sec-WebSocket-Version: 13\r\n");
    refused(
        request.as_bytes(),
        "HTTP/1.1 400 Bad Request",
        "missing Sec-WebSocket-Key",
    );
}

#[test]
fn a_short_key_gets_400() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let request = upgrade_with(
        addr,
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n",
    );
    refused(
        request.as_bytes(),
        "HTTP/1.1 400 Bad Request",
        "bad Sec-WebSocket-Key",
    );
}

#[test]
fn a_key_that_is_not_base64_gets_400() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let request = upgrade_with(
        addr,
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n",
    );
    refused(
        request.as_bytes(),
        "HTTP/1.1 400 Bad Request",
        "bad Sec-WebSocket-Key",
    );
}

#[test]
fn version_8_gets_426_naming_version_13() {
    let addr = "127.0.0.1:1".parse().unwrap();
    let request = upgrade_with(
        addr,
        "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    );
    refused(
        request.as_bytes(),
        "HTTP/1.1 426 Upgrade Required",
        "Sec-WebSocket-Version: 13",
    );
}

#[test]
fn post_gets_405_allowing_get() {
    refused(
        b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 405 Method Not Allowed",
        "Allow: GET",
    );
}

#[test]
fn malformed_heads_get_400() {
    let (server, mut witness) = start();
    let addr = server.ws_addr().unwrap();
    let cases: [(&[u8], &str); 6] = [
        (b"GET / HTTP/1.1\r\n\r\n", "missing Host"),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "more than one Host",
        ),
        (b"GET / HTTP/1.1\r\nHost: x\rEvil: 1\r\n\r\n", "bare CR"),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", "without ':'"),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "line folding"),
        (b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", "control character"),
    ];
    for (request, says) in cases {
        let got = answer(addr, request);
        assert_eq!(status_line(&got), "HTTP/1.1 400 Bad Request", "{got}");
        assert!(got.contains(says), "{request:?} -> {got}");
    }
    witness.still_chatting();
    witness.only_witness_threads_left(&server);
}

/// Sends `bytes` one byte every 100 ms (the attacker's own pace) until the server closes;
/// returns the answer and how long the connection lived.
fn dribble(server: &Server, bytes: &'static [u8]) -> (String, Duration) {
    let mut stream = TcpStream::connect(server.ws_addr().unwrap()).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let loris = std::thread::spawn(move || {
        for byte in bytes.iter().cycle().take(200) {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let got = read_to_close(&mut stream);
    let lived = started.elapsed();
    drop(stream);
    loris.join().unwrap();
    (got, lived)
}

#[test]
fn slow_loris_is_cut_at_the_handshake_timeout() {
    let (server, mut witness) = start();
    let (got, lived) = dribble(&server, b"GET /ws HTTP/1.1\r\nX: y\r\n");
    assert_eq!(status_line(&got), "HTTP/1.1 408 Request Timeout", "{got}");
    // The deadline covers the whole head: a byte every 100 ms does not extend it. (Closing
    // waits up to 500 ms more for the peer to stop sending, so the answer is not lost.)
    assert!(lived >= HANDSHAKE_TIMEOUT, "{lived:?}");
    assert!(lived < HANDSHAKE_TIMEOUT * 6, "{lived:?}");
    witness.still_chatting();
    witness.only_witness_threads_left(&server);
}

#[test]
fn a_connection_that_sends_nothing_is_cut_at_the_handshake_timeout() {
    let (server, mut witness) = start();
    let mut stream = TcpStream::connect(server.ws_addr().unwrap()).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let started = Instant::now();
    let got = read_to_close(&mut stream);
    let lived = started.elapsed();
    assert_eq!(status_line(&got), "HTTP/1.1 408 Request Timeout", "{got}");
    assert!(lived >= HANDSHAKE_TIMEOUT, "{lived:?}");
    assert!(lived < HANDSHAKE_TIMEOUT * 6, "{lived:?}");
    witness.still_chatting();
    witness.only_witness_threads_left(&server);
}

#[test]
fn many_silent_connections_at_once_all_time_out_and_the_room_chats_on() {
    let (server, mut witness) = start();
    let silent: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(server.ws_addr().unwrap()).unwrap())
        .collect();
    // While they hang, the room works.
    witness.still_chatting();
    for mut stream in silent {
        stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
        let got = read_to_close(&mut stream);
        assert_eq!(status_line(&got), "HTTP/1.1 408 Request Timeout", "{got}");
    }
    witness.only_witness_threads_left(&server);
    witness.still_chatting();
}
