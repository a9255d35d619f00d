//! `GET /history?after=SEQ` on the HTTP port: short polling, answered at once from the hub's
//! history, on a kept-alive connection.

mod common;

use common::polling::{HttpClient, Reply};
use common::{TcpChat, http_exchange, server};
use plainsock::Server;
use std::time::Duration;

/// A member that says `texts` and reads each back, so the hub has them all in order.
fn say(server: &Server, texts: &[&str]) -> TcpChat {
    let mut alice = TcpChat::join(server);
    for text in texts {
        alice.send(text);
        alice.expect(&format!("{}: {text}", alice.nick));
    }
    alice
}

/// `(next, lines, missed)` of a 200 answer.
fn page(reply: &Reply) -> (u64, Vec<String>, u64) {
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.response.header("Content-Type"),
        Some("application/json")
    );
    let body = reply.json();
    let lines = body.get("lines").as_array().expect("lines");
    let lines = lines
        .iter()
        .map(|l| l.as_str().expect("a line").to_string())
        .collect();
    let next = body.get("next").as_u64().expect("next");
    let missed = body.get("missed").as_u64().expect("missed");
    (next, lines, missed)
}

#[test]
fn the_lines_after_seq_come_in_order() {
    let server = server(|_| {});
    let alice = say(&server, &["one", "two", "three"]);
    let said = |text: &str| format!("{}: {text}", alice.nick);
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    // Joins and leaves are notices, not messages: only the three lines are numbered.
    let all = page(&http.request("GET", "/history?after=0", b""));
    assert_eq!(all, (3, vec![said("one"), said("two"), said("three")], 0));
    let later = page(&http.request("GET", "/history?after=1", b""));
    assert_eq!(later, (3, vec![said("two"), said("three")], 0));
    let none = page(&http.request("GET", "/history?after=3", b""));
    assert_eq!(none, (3, vec![], 0));
    // No SEQ: from the start.
    assert_eq!(page(&http.request("GET", "/history", b"")), all);
}

#[test]
fn a_client_that_fell_behind_is_told_how_many_it_missed() {
    let server = server(|c| c.history = 3);
    let alice = say(&server, &["1", "2", "3", "4", "5"]);
    let said = |text: &str| format!("{}: {text}", alice.nick);
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    let behind = page(&http.request("GET", "/history?after=0", b""));
    assert_eq!(behind, (5, vec![said("3"), said("4"), said("5")], 2));
    let one_behind = page(&http.request("GET", "/history?after=1", b""));
    assert_eq!(one_behind, (5, vec![said("3"), said("4"), said("5")], 1));
    let caught_up = page(&http.request("GET", "/history?after=3", b""));
    assert_eq!(caught_up, (5, vec![said("4"), said("5")], 0));
}

#[test]
fn without_a_history_every_line_is_missed() {
    let server = server(|c| c.history = 0);
    let _alice = say(&server, &["1", "2"]);
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    assert_eq!(
        page(&http.request("GET", "/history?after=0", b"")),
        (2, vec![], 2)
    );
}

#[test]
fn a_bad_seq_gets_400_with_the_reason() {
    let server = server(|_| {});
    let _alice = say(&server, &["hi"]);
    let addr = server.ws_addr().unwrap();
    let cases = [
        (
            "after=abc",
            "SEQ must be a message number in decimal digits",
        ),
        ("after=-1", "SEQ must be a message number"),
        ("after=", "SEQ must be a message number"),
        ("after=99999999999999999999", "beyond any message number"),
        ("after=2", "there is no message 2 yet (the latest is 1)"),
    ];
    for (query, why) in cases {
        let request = format!("GET /history?{query} HTTP/1.1\r\nHost: x\r\n\r\n");
        let answer = http_exchange(addr, &request);
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{query}: {answer}"
        );
        assert!(answer.contains(why), "{query}: {answer}");
    }
}

#[test]
fn a_page_from_another_origin_may_not_read_it() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let request = "GET /history HTTP/1.1\r\nHost: x\r\nOrigin: http://evil.example\r\n\r\n";
    let answer = http_exchange(addr, request);
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    let own = "GET /history HTTP/1.1\r\nHost: x\r\nOrigin: http://x\r\nConnection: close\r\n\r\n";
    let answer = http_exchange(addr, own);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(!answer.contains("Access-Control-"), "{answer}");
}

#[test]
fn consecutive_requests_share_one_kept_alive_connection() {
    let server = server(|_| {});
    let mut alice = say(&server, &["first"]);
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    let reply = http.request("GET", "/history?after=0", b"");
    assert_eq!(reply.response.header("Connection"), Some("keep-alive"));
    let (next, _, _) = page(&reply);
    alice.send("second");
    alice.expect(&format!("{}: second", alice.nick));
    // The same socket: the next poll sees the new line.
    let reply = http.request("GET", &format!("/history?after={next}"), b"");
    assert_eq!(page(&reply).1, vec![format!("{}: second", alice.nick)]);
    // Two requests sent at once are answered in order (pipelining, RFC 9112 §9.3.2).
    http.send("GET", "/history?after=0", &[], b"");
    http.send("GET", "/history?after=1", &[], b"");
    assert_eq!(page(&http.reply()).1.len(), 2);
    assert_eq!(page(&http.reply()).1.len(), 1);
    // Another resource on the same connection is served too, then the connection closes.
    let reply = http.request("GET", "/", b"");
    assert_eq!(reply.status, 200);
    assert!(http.closed(), "the page's answer closes the connection");
}

#[test]
fn connection_close_is_honoured() {
    let server = server(|_| {});
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    http.send("GET", "/history", &[("Connection", "close")], b"");
    let reply = http.reply();
    assert_eq!(reply.response.header("Connection"), Some("close"));
    assert_eq!(page(&reply), (0, vec![], 0));
    assert!(http.closed());
}

#[test]
fn an_idle_kept_alive_connection_ends_at_the_handshake_timeout() {
    let server = server(|c| c.handshake_timeout = Duration::from_millis(200));
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    page(&http.request("GET", "/history", b""));
    // No next request: the server closes (the client's read timeout is PATIENCE, far longer).
    assert!(http.closed());
}

#[test]
fn it_answers_at_once_even_when_nothing_is_new() {
    // A long poll would hold this request until a message came; none comes here, yet every
    // answer arrives (each read waits at most PATIENCE).
    let server = server(|_| {});
    let _alice = say(&server, &["only"]);
    let mut http = HttpClient::connect(server.ws_addr().unwrap());
    for _ in 0..3 {
        assert_eq!(
            page(&http.request("GET", "/history?after=1", b"")),
            (1, vec![], 0)
        );
    }
}

#[test]
fn head_gets_the_headers_and_no_body() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let answer = http_exchange(addr, "HEAD /history HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(head.contains("Content-Length: 32"), "{head}");
    assert_eq!(body, "");
}
