//! Behind a reverse proxy (`--trust-proxy`): the forwarded scheme, host and client address are
//! believed from a trusted peer, and ignored from anyone else (a spoofing attempt).

mod common;

use common::{PATIENCE, TcpChat, eventually, pipe_lines, server, ws_join_with};
use plainsock::ServerConfig;
use plainsock::proxy::TrustedProxies;
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

/// What nginx adds for a browser on https://chat.example (see examples/deploy/nginx.conf).
const FROM_TLS_PROXY: &str = "Origin: https://chat.example\r\nX-Forwarded-For: 198.51.100.7\r\n\
                              X-Forwarded-Proto: https\r\nX-Forwarded-Host: chat.example\r\n";

fn trust(config: &mut ServerConfig, list: &str) {
    config.trust_proxy = TrustedProxies::parse(list).unwrap();
}

fn refused(answer: Result<common::WsChat, String>) -> String {
    match answer {
        Ok(member) => panic!("{} was let in", member.nick),
        Err(answer) => answer,
    }
}

#[test]
fn a_trusted_proxy_makes_its_https_origin_our_own() {
    let server = server(|c| trust(c, "127.0.0.1"));
    let addr = server.ws_addr().unwrap();
    let mut page =
        ws_join_with(addr, FROM_TLS_PROXY).expect("the page at https://chat.example joins");
    // `/who` names the client's address, not the proxy's.
    page.send("/who");
    let who = page.expect_prefix("* ");
    let who = if who.contains(" online: ") {
        who
    } else {
        page.expect_prefix("* 1 online: ")
    };
    assert!(
        who.contains(&format!("{} (websocket from 198.51.100.7)", page.nick)),
        "{who}"
    );
    let rfc7239 = "Origin: https://chat.example:8443\r\n\
                   Forwarded: for=\"198.51.100.7:4711\";proto=https;host=\"chat.example:8443\"\r\n";
    ws_join_with(addr, rfc7239).expect("the RFC 7239 header says the same");
    // Without the proxy's word that origin is foreign, and so is another site behind it.
    for extra in [
        "Origin: https://chat.example\r\n",
        "Origin: https://evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: chat.example\r\n",
        "Origin: http://chat.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: chat.example\r\n",
    ] {
        let answer = refused(ws_join_with(addr, extra));
        assert!(answer.starts_with("HTTP/1.1 403 "), "{extra:?} -> {answer}");
    }
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    // No proxy trusted, and a list that does not hold the test's address 127.0.0.1.
    for list in [None, Some("127.0.0.2, 10.0.0.0/8, ::1")] {
        let server = server(|c| {
            c.max_per_ip = 1;
            if let Some(list) = list {
                trust(c, list);
            }
        });
        let addr = server.ws_addr().unwrap();
        // The claimed scheme and host do not make a foreign page our own ...
        let answer = refused(ws_join_with(addr, FROM_TLS_PROXY));
        assert!(answer.starts_with("HTTP/1.1 403 "), "{list:?}: {answer}");
        // ... and claimed addresses do not dodge the per-address cap: both are 127.0.0.1.
        let _first = ws_join_with(addr, "X-Forwarded-For: 198.51.100.1\r\n").unwrap();
        let spoof = "X-Forwarded-For: 198.51.100.2\r\nForwarded: for=198.51.100.3\r\n";
        let answer = refused(ws_join_with(addr, spoof));
        assert!(
            answer.starts_with("HTTP/1.1 503 ")
                && answer.contains("too many connections from your address"),
            "{list:?}: {answer}"
        );
        let loopback: IpAddr = [127, 0, 0, 1].into();
        assert_eq!(server.places_taken(loopback), 1);
        assert_eq!(server.places_taken("198.51.100.1".parse().unwrap()), 0);
    }
}

#[test]
fn clients_of_a_trusted_proxy_are_counted_by_their_own_address() {
    let server = server(|c| {
        trust(c, "127.0.0.1");
        c.max_per_ip = 2;
    });
    let addr = server.ws_addr().unwrap();
    let from = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");
    let mut first = ws_join_with(addr, &from("198.51.100.1")).unwrap();
    let _second = ws_join_with(addr, &from("198.51.100.1")).unwrap();
    let answer = refused(ws_join_with(addr, &from("198.51.100.1")));
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.contains("too many connections from your address (at most 2)"),
        "{answer}"
    );
    // Another client behind the same proxy, and a member from the proxy's own address, join.
    let _other = ws_join_with(addr, &from("198.51.100.2")).unwrap();
    let mut local = TcpChat::join(&server);
    // The room goes on for everyone.
    first.send("still here");
    local.expect(&format!("{}: still here", first.nick));
    // A leave frees its place.
    first.send("/quit");
    assert_eq!(first.close_code(), Some(1000));
    let ip: IpAddr = "198.51.100.1".parse().unwrap();
    assert!(eventually(|| server.places_taken(ip) == 1));
    ws_join_with(addr, &from("198.51.100.1")).expect("a place again");
}

/// `plainsock serve --trust-proxy 127.0.0.1`, its stderr (the join log) line by line.
struct Serve {
    child: Child,
    log: mpsc::Receiver<String>,
    ws: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_trusting(list: &str) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plainsock"))
        .args([
            "serve",
            "--tcp",
            "off",
            "--udp",
            "off",
            "--ws",
            "127.0.0.1:0",
        ])
        .args(["--trust-proxy", list])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = pipe_lines(child.stdout.take().unwrap());
    let log = pipe_lines(child.stderr.take().unwrap());
    let mut serve = Serve {
        child,
        log,
        ws: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    // "  ws   127.0.0.1:PORT   open http://…"
    while serve.ws.port() == 0 {
        let line = out
            .recv_timeout(PATIENCE)
            .expect("serve prints its ws address");
        if let Some(rest) = line.trim_start().strip_prefix("ws ") {
            serve.ws = rest.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    serve
}

impl Serve {
    /// The next log line naming `nick`.
    fn line_about(&self, nick: &str) -> String {
        loop {
            let line = self
                .log
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no log line about {nick}"));
            if line.contains(nick) {
                return line;
            }
        }
    }
}

#[test]
fn the_log_names_the_client_not_the_proxy() {
    let serve = serve_trusting("127.0.0.1");
    let forwarded = "Forwarded: for=\"198.51.100.7:4711\";proto=https;host=chat.example\r\n";
    let proxied = ws_join_with(serve.ws, forwarded).unwrap();
    assert_eq!(
        serve.line_about(&proxied.nick),
        format!(
            "198.51.100.7:4711 joined over websocket as {}",
            proxied.nick
        )
    );
    // A request from the proxy's host without forwarding headers is its own client.
    let direct = ws_join_with(serve.ws, "").unwrap();
    let port = direct.socket.get_ref().local_addr().unwrap().port();
    assert_eq!(
        serve.line_about(&direct.nick),
        format!("127.0.0.1:{port} joined over websocket as {}", direct.nick)
    );
}
