//! The HTTP port: the page, the refusals, and WebSocket members in the same room as TCP and UDP.

mod common;

use common::{
    PATIENCE, TcpChat, UdpChat, WsChat, eventually, http_exchange, server, upgrade_request,
};
use plainsock::http;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[test]
fn the_page_is_served_at_the_root() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let answer = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_line(&answer), "HTTP/1.1 200 OK");
    assert!(answer.contains("Content-Type: text/html; charset=utf-8"));
    assert!(
        answer.contains("id=\"messages\"") && answer.contains("new WebSocket"),
        "the chat page"
    );
}

#[test]
fn other_requests_get_a_real_http_answer() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let cases = [
        ("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n".to_string(), "HTTP/1.1 404 Not Found", "nothing at /nope"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".into(), "HTTP/1.1 405 Method Not Allowed", "only GET"),
        ("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".into(), "HTTP/1.1 400 Bad Request", "this is the WebSocket endpoint"),
        (
            upgrade_request(addr, "Origin: http://evil.example\r\n"),
            "HTTP/1.1 403 Forbidden",
            "pages from http://evil.example may not open this chat",
        ),
        (
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".into(),
            "HTTP/1.1 426 Upgrade Required",
            "Sec-WebSocket-Version: 13",
        ),
    ];
    for (request, status, text) in cases {
        let answer = http_exchange(addr, &request);
        assert_eq!(status_line(&answer), status, "{request:?}");
        assert!(answer.contains(text), "{request:?} -> {answer}");
    }
}

/// The value of header `name` in a raw answer.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let get = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let head = http_exchange(addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_line(&head), "HTTP/1.1 200 OK");
    assert!(head.ends_with("\r\n\r\n"), "a body after the head: {head}");
    for name in ["Content-Type", "Content-Length", "Content-Security-Policy"] {
        assert_eq!(header(&head, name), header(&get, name), "{name}");
    }
    let missing = http_exchange(addr, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_line(&missing), "HTTP/1.1 404 Not Found");
    assert!(missing.ends_with("\r\n\r\n"), "{missing}");
    let post = http_exchange(
        addr,
        "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(header(&post, "Allow"), Some("GET, HEAD"));
}

#[test]
fn every_answer_has_a_date() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    for request in [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let answer = http_exchange(addr, request);
        let date = header(&answer, "Date").unwrap_or_else(|| panic!("no Date: {answer}"));
        // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", always 29 characters.
        assert_eq!(date.len(), 29, "{date}");
        assert!(
            date.ends_with(" GMT") && date.as_bytes()[3] == b',',
            "{date}"
        );
    }
}

#[test]
fn absolute_form_targets_are_served() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let page = http_exchange(
        addr,
        &format!("GET http://{addr}/ HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    assert_eq!(status_line(&page), "HTTP/1.1 200 OK");
    // The upgrade too, with its origin checked against the target's authority.
    let request = upgrade_request(addr, &format!("Origin: http://{addr}\r\n")).replacen(
        "GET /ws",
        &format!("GET http://{addr}/ws"),
        1,
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101 Switching Protocols"));
}

#[test]
fn http_versions_hosts_and_a_leading_empty_line() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let cases = [
        ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"),
        ("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"),
        ("GET / HTTP/1.0\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"),
        (
            "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
            "HTTP/1.1 505 HTTP Version Not Supported",
        ),
        ("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (
            "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "HTTP/1.1 400 Bad Request",
        ),
    ];
    for (request, status) in cases {
        let answer = http_exchange(addr, request);
        assert_eq!(status_line(&answer), status, "{request:?} -> {answer}");
    }
}

/// HTTP/1.0 is still spoken (curl --http1.0, health checks, nginx's default upstream version):
/// it is served, Host or not, and each answer ends with the close a 1.0 client expects; only
/// the WebSocket upgrade needs 1.1 (RFC 6455 §4.2.1).
#[test]
fn an_http_1_0_client_is_served_and_its_connection_closed() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let upgrade = upgrade_request(addr, "").replacen("HTTP/1.1", "HTTP/1.0", 1);
    let cases = [
        ("GET /status HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"),
        (
            "GET /history HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "HTTP/1.1 200 OK",
        ),
        ("HEAD / HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"),
        (upgrade.as_str(), "HTTP/1.1 400 Bad Request"),
    ];
    for (request, status) in cases {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        // Ok means the server closed the connection; a kept-alive one would time out here.
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status_line(&answer), status, "{request:?} -> {answer}");
    }
}

#[test]
fn a_websocket_upgrade_to_the_page_is_told_where_the_room_is() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    let request = upgrade_request(addr, "").replacen("GET /ws", "GET /", 1);
    let answer = http_exchange(addr, &request);
    assert_eq!(status_line(&answer), "HTTP/1.1 400 Bad Request", "{answer}");
    assert!(
        answer.contains(&format!(
            "the chat room is at /ws: connect to ws://{addr}/ws"
        )),
        "{answer}"
    );
    // Our own client says so in its error, status line and hint, not a page of HTML.
    let err = plainsock::ws::client::connect(&format!("ws://{addr}")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "WebSocket handshake refused: 400 Bad Request: this is the chat page; the chat room is at /ws: connect to ws://{addr}/ws"
        )
    );
}

#[test]
fn the_chat_subprotocol_is_chosen_when_offered() {
    let server = server(|_| {});
    let url = format!("ws://{}/ws", server.ws_addr().unwrap());
    let config = plainsock::ws::Config::default();
    let (_, response) =
        plainsock::ws::client::connect_with(&url, config.clone(), &["x-other", "chat"]).unwrap();
    assert_eq!(response.header("Sec-WebSocket-Protocol"), Some("chat"));
    let (_, response) =
        plainsock::ws::client::connect_with(&url, config.clone(), &["x-other"]).unwrap();
    assert_eq!(response.header("Sec-WebSocket-Protocol"), None);
    let (_, response) = plainsock::ws::client::connect_with(&url, config, &[]).unwrap();
    assert_eq!(response.header("Sec-WebSocket-Protocol"), None);
}

#[test]
fn the_own_origin_and_listed_origins_may_join() {
    let server = server(|c| c.allow_origins = vec!["https://chat.example".into()]);
    let addr = server.ws_addr().unwrap();
    for origin in [format!("http://{addr}"), "https://chat.example".to_string()] {
        let request = upgrade_request(addr, &format!("Origin: {origin}\r\n"));
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).unwrap();
        assert!(
            head[..n].starts_with(b"HTTP/1.1 101 Switching Protocols"),
            "{origin}"
        );
    }
}

#[test]
fn browsers_terminals_and_datagrams_share_one_room() {
    let server = server(|_| {});
    let mut ws = WsChat::join(&server);
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    ws.expect(&format!("* {} joined (3 online)", udp.nick));

    ws.send("hello from the browser");
    let line = format!("{}: hello from the browser", ws.nick);
    tcp.expect(&line);
    udp.expect(&line);
    ws.expect(&line);

    tcp.send("hello from nc");
    ws.expect(&format!("{}: hello from nc", tcp.nick));
    udp.send("hello from nc -u");
    ws.expect(&format!("{}: hello from nc -u", udp.nick));

    ws.send("/who");
    let who = ws.line();
    assert!(
        who.starts_with("* 3 online: ")
            && who.contains(&format!("{} (websocket from 127.0.0.1:", ws.nick)),
        "{who}"
    );

    ws.send("/quit");
    ws.expect("* bye");
    assert_eq!(ws.close_code(), Some(1000));
    tcp.expect(&format!("* {} left (2 online)", ws.nick));
}

#[test]
fn a_newline_in_a_message_cannot_forge_a_line() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut ws = WsChat::join(&server);
    ws.send("hi\n* admin is now root");
    tcp.expect(&format!("{}: hi\u{FFFD}* admin is now root", ws.nick));
}

#[test]
fn a_member_that_never_answers_pings_is_dropped() {
    let server = server(|c| {
        c.ping_interval = Duration::from_millis(200);
        c.pong_timeout = Duration::from_millis(200);
    });
    let mut tcp = TcpChat::join(&server);
    // Joins, then never reads again: its pings go unanswered, as from a peer that vanished.
    let silent = WsChat::join(&server);
    tcp.expect(&format!("* {} joined (2 online)", silent.nick));
    tcp.expect(&format!("* {} left (1 online)", silent.nick));
    // A member that reads answers the pings and stays.
    let mut awake = WsChat::join(&server);
    tcp.expect(&format!("* {} joined (2 online)", awake.nick));
    let mut pings = 0;
    for _ in 0..100 {
        if let plainsock::ws::Message::Ping(_) = awake.socket.read().unwrap() {
            pings += 1;
            if pings == 3 {
                break;
            }
        }
    }
    assert_eq!(pings, 3, "the server pings a quiet member");
    assert_eq!(server.member_count(), 2);
}

#[test]
fn over_max_conns_a_browser_gets_503() {
    let server = server(|c| c.max_conns = 1);
    let _member = TcpChat::join(&server);
    let addr = server.ws_addr().unwrap();
    let answer = http_exchange(addr, &upgrade_request(addr, ""));
    assert_eq!(status_line(&answer), "HTTP/1.1 503 Service Unavailable");
    // The page itself is not a member: it is still served.
    let page = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status_line(&page), "HTTP/1.1 200 OK");
}

/// A browser sends any request on a connection it keeps alive: after a long poll, the page's
/// `GET /status`, or a reload of the page, on the same connection is served as on its own.
#[test]
fn the_page_and_status_are_served_on_a_connection_kept_alive_by_socketio() {
    let server = server(|_| {});
    let addr = server.ws_addr().unwrap();
    for (target, want) in [
        ("/status", "200 the room has space\n"),
        ("/", "<title>plainsock chat</title>"),
    ] {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
        let open =
            format!("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(open.as_bytes()).unwrap();
        let deadline = Instant::now() + common::PATIENCE;
        let (head, mut body) = http::read_response_head(&stream, 8192, deadline).unwrap();
        let response = http::parse_response(&head).unwrap();
        assert_eq!(response.status, 200);
        let length: usize = response.header("Content-Length").unwrap().parse().unwrap();
        while body.len() < length {
            let mut more = [0u8; 1024];
            let n = stream.read(&mut more).unwrap();
            assert!(n > 0, "the open packet was cut short");
            body.extend_from_slice(&more[..n]);
        }
        assert!(
            body.starts_with(b"0{\"sid\":"),
            "{}",
            String::from_utf8_lossy(&body)
        );

        let next = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        stream.write_all(next.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(
            status_line(&answer),
            "HTTP/1.1 200 OK",
            "{target}: {answer}"
        );
        assert!(answer.contains(want), "{target}: {answer}");
    }
}

/// A script is told nothing of why `/ws` refused it (it sees a close, 1006), so the page asks
/// `/status?origin=ORIGIN`, which answers as `/ws` would, with the reason.
#[test]
fn status_answers_as_ws_would_with_the_reason() {
    let server = server(|c| {
        c.max_conns = 1;
        c.allow_origins = vec!["https://chat.example".into()];
    });
    let addr = server.ws_addr().unwrap();
    let ask = |target: &str, headers: &str| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{headers}\r\n");
        http_exchange(addr, &request)
    };
    let own = format!("/status?origin=http://{addr}");
    for target in [
        own.as_str(),
        "/status?origin=https://chat.example",
        "/status",
    ] {
        let answer = ask(target, "");
        assert_eq!(status_line(&answer), "HTTP/1.1 200 OK", "{target}");
        assert!(
            answer.ends_with("\r\n\r\n200 the room has space\n"),
            "{answer}"
        );
    }
    // A foreign origin, in the query or (which wins) in a real Origin header.
    for (target, headers) in [
        ("/status?origin=http://evil.example", ""),
        (own.as_str(), "Origin: http://evil.example\r\n"),
    ] {
        let answer = ask(target, headers);
        assert_eq!(status_line(&answer), "HTTP/1.1 403 Forbidden", "{headers}");
        assert!(
            answer.contains("403 this server takes chat connections only from its own pages"),
            "{answer}"
        );
    }
    let member = TcpChat::join(&server);
    let answer = ask(&own, "");
    assert_eq!(status_line(&answer), "HTTP/1.1 503 Service Unavailable");
    assert!(
        answer.contains("503 the room is full; try again later"),
        "{answer}"
    );
    // Asking took no place: once the member leaves, there is room again.
    drop(member);
    assert!(eventually(
        || status_line(&ask(&own, "")) == "HTTP/1.1 200 OK"
    ));
}

#[test]
fn a_websocket_member_that_stops_reading_is_closed_and_slows_nobody() {
    let server = server(|c| c.write_timeout = Duration::from_millis(300));
    let mut stalled = WsChat::join(&server);
    let mut sender = TcpChat::join(&server);
    let text = "w".repeat(4000);
    let total = 3000; // 12 MB: more than the stalled socket's buffers can hold
    let writer_stream = sender.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let mut writer_stream = writer_stream;
        for i in 0..total {
            writer_stream
                .write_all(format!("{i:04}{text}\n").as_bytes())
                .unwrap();
        }
    });
    let mut next = 0;
    let mut notices = Vec::new();
    while next < total {
        let line = sender.line();
        if let Some(rest) = line.strip_prefix(&format!("{}: ", sender.nick)) {
            assert_eq!(
                rest[..4].parse::<usize>().unwrap(),
                next,
                "in order, none missing"
            );
            next += 1;
        } else {
            notices.push(line);
        }
    }
    writer.join().unwrap();
    let dropped = format!("* {} dropped: too slow (1 online)", stalled.nick);
    if !notices.contains(&dropped) {
        sender.expect(&dropped);
    }
    // What the stalled member finally reads ends without the full stream: it was cut off.
    let mut got = 0;
    loop {
        match stalled.socket.read() {
            Ok(plainsock::ws::Message::Text(_)) => got += 1,
            Ok(plainsock::ws::Message::Close(frame)) => {
                assert_eq!(frame.map(|f| f.code), Some(1008));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
        assert!(got <= total, "the stalled member got everything");
    }
    assert!(got < total);
    assert!(eventually(|| server.member_count() == 1));
}

#[test]
fn a_panicking_websocket_thread_is_contained() {
    let server = server(|c| c.fault_injection = true);
    let mut tcp = TcpChat::join(&server);
    let mut victim = WsChat::join(&server);
    victim.send("/panic");
    tcp.expect(&format!("* {} left (1 online)", victim.nick));
    let mut next = WsChat::join(&server);
    next.send("still serving");
    tcp.expect(&format!("{}: still serving", next.nick));
}

#[test]
fn shutdown_sends_going_away() {
    let server = server(|_| {});
    let mut ws = WsChat::join(&server);
    assert!(server.shutdown());
    ws.expect("* server shutting down");
    let _ = ws.close_code();
}

/// A relay between a client and the server that can go silent in both directions without
/// closing anything: what a peer that lost power or network looks like (no FIN, no RST).
struct Blackhole {
    addr: SocketAddr,
    silent: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    relays: Vec<JoinHandle<()>>,
}

impl Blackhole {
    fn to(target: SocketAddr) -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (silent.clone(), stop.clone());
        let relays = vec![thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let server = TcpStream::connect(target).unwrap();
            let up = relay(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                &s,
                &st,
            );
            let down = relay(server, client, &s, &st);
            up.join().unwrap();
            down.join().unwrap();
        })];
        Blackhole {
            addr,
            silent,
            stop,
            relays,
        }
    }

    fn go_silent(&self) {
        self.silent.store(true, Ordering::Release);
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for relay in self.relays.drain(..) {
            let _ = relay.join();
        }
    }
}

/// Copies `from` to `to` until stopped; once `silent`, bytes are read and dropped.
fn relay(
    mut from: TcpStream,
    mut to: TcpStream,
    silent: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    let (silent, stop) = (silent.clone(), stop.clone());
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while !stop.load(Ordering::Acquire) {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if !silent.load(Ordering::Acquire) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    })
}

#[test]
fn a_peer_that_vanishes_without_fin_is_removed_at_the_keepalive_timeout() {
    let server = server(|c| {
        c.ping_interval = Duration::from_millis(300);
        c.pong_timeout = Duration::from_millis(300);
    });
    let mut tcp = TcpChat::join(&server);
    let hole = Blackhole::to(server.ws_addr().unwrap());
    let mut ws = plainsock::ws::client::connect(&format!("ws://{}/ws", hole.addr)).unwrap();
    ws.get_ref()
        .set_read_timeout(Some(common::PATIENCE))
        .unwrap();
    let welcome = match ws.read().unwrap() {
        plainsock::ws::Message::Text(line) => line,
        other => panic!("expected the welcome, got {other:?}"),
    };
    let nick = common::nick_from_welcome(&welcome);
    tcp.expect(&format!("* {nick} joined (2 online)"));
    // The network goes away: no FIN, no RST, nothing in either direction.
    hole.go_silent();
    let vanished = Instant::now();
    tcp.expect(&format!("* {nick} left (1 online)"));
    assert!(
        vanished.elapsed() >= Duration::from_millis(300),
        "dropped before any ping went unanswered"
    );
    drop(ws);
}
