//! `--max-per-ip`: one client address holds at most N places (members and handshakes in
//! progress) across all transports; over it, it is told why, and the rest of the room notices
//! nothing.
//!
//! Test clients come from different loopback addresses where std allows it: a UDP socket can
//! bind any 127/8 address, but a `TcpStream` cannot bind before connecting (not without
//! `libc`), so every TCP client is 127.0.0.1 and other TCP addresses arrive as a trusted
//! proxy's `X-Forwarded-For`.

mod common;

use common::polling::{HttpClient, PollingChat};
use common::{PATIENCE, TcpChat, UdpChat, WsChat, eventually, server, ws_join_with};
use plainsock::proxy::TrustedProxies;
use plainsock::{Server, ServerConfig};
use std::io::Write;
use std::net::{IpAddr, TcpStream, UdpSocket};

const TOO_MANY: &str = "* too many connections from your address";
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn capped(n: usize) -> impl FnOnce(&mut ServerConfig) {
    move |c| c.max_per_ip = n
}

/// A UDP peer sending from `ip` (any 127.x.y.z), not yet joined.
fn udp_from(ip: &str, server: &Server) -> UdpChat {
    let socket = UdpSocket::bind((ip, 0)).unwrap();
    socket.connect(server.udp_addr().unwrap()).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    UdpChat {
        socket,
        nick: String::new(),
    }
}

/// A UDP peer from `ip`, joined (its welcome read).
fn udp_join_from(ip: &str, server: &Server) -> UdpChat {
    let mut peer = udp_from(ip, server);
    peer.send_raw(b"");
    peer.nick = common::nick_from_welcome(&peer.line());
    peer
}

#[test]
fn a_tcp_flood_from_one_address_is_refused_and_others_join() {
    let server = server(|c| {
        c.max_per_ip = 3;
        c.trust_proxy = TrustedProxies::parse("127.0.0.1").unwrap();
    });
    let tcp = server.tcp_addr().unwrap();
    let mut members: Vec<TcpChat> = (0..3).map(|_| TcpChat::join(&server)).collect();
    // A flood of 50 more from the same address: each is told why and closed.
    for n in 0..50 {
        let mut extra = TcpChat::connect(tcp);
        extra.nick = format!("extra {n}");
        assert_eq!(extra.line(), TOO_MANY);
        assert!(extra.closed());
    }
    assert_eq!(server.places_taken(LOOPBACK), 3);
    // Meanwhile other addresses join: over UDP from 127.0.0.2, and behind the trusted proxy.
    let mut udp = udp_join_from("127.0.0.2", &server);
    let mut ws = ws_join_with(
        server.ws_addr().unwrap(),
        "X-Forwarded-For: 198.51.100.9\r\n",
    )
    .expect("a client behind the proxy joins");
    // The members chat on, unharmed.
    let nick = members[0].nick.clone();
    members[0].send("we are fine");
    for member in &mut members[1..] {
        member.expect(&format!("{nick}: we are fine"));
    }
    udp.expect(&format!("{nick}: we are fine"));
    ws.expect(&format!("{nick}: we are fine"));
    // One leaves; its place is free again.
    let mut leaving = members.pop().unwrap();
    leaving.send("/quit");
    assert!(leaving.closed());
    assert!(eventually(|| server.places_taken(LOOPBACK) == 2));
    TcpChat::join(&server);
}

#[test]
fn udp_peers_from_one_address_are_capped() {
    let server = server(capped(2));
    let a = udp_join_from("127.0.0.2", &server);
    let _b = udp_join_from("127.0.0.2", &server);
    let mut c = udp_from("127.0.0.2", &server);
    c.send("hello?");
    assert_eq!(c.line(), TOO_MANY);
    // Not a member: its next datagram is refused again, and says nothing to the room.
    c.send("anyone?");
    assert_eq!(c.line(), TOO_MANY);
    let mut d = udp_join_from("127.0.0.3", &server);
    a.send("hello");
    d.expect(&format!("{}: hello", a.nick));
    assert_eq!(server.member_count(), 3);
}

#[test]
fn websocket_over_the_cap_gets_a_503_saying_why() {
    let server = server(capped(2));
    let addr = server.ws_addr().unwrap();
    let mut a = WsChat::join(&server);
    let _b = WsChat::join(&server);
    let answer = ws_join_with(addr, "").err().expect("a third is refused");
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with(
            "503 too many connections from your address (at most 2); close some and try again\n"
        ),
        "{answer}"
    );
    // One cap across transports: the address has no TCP place left either.
    let mut tcp = TcpChat::connect(server.tcp_addr().unwrap());
    assert_eq!(tcp.line(), TOO_MANY);
    // Another address (over UDP) joins, and the members hear it.
    let udp = udp_join_from("127.0.0.4", &server);
    udp.send("hi all");
    a.expect(&format!("* {} joined (3 online)", udp.nick));
    a.expect(&format!("{}: hi all", udp.nick));
}

#[test]
fn handshakes_in_progress_count_too() {
    let server = server(capped(2));
    let addr = server.ws_addr().unwrap();
    // Two connections that send half a head and then nothing (slow-loris) ...
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /ws HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    assert!(eventually(|| server.places_taken(LOOPBACK) == 2));
    // ... hold the address's places: a third is refused at once, not after the timeout.
    let answer = ws_join_with(addr, "")
        .err()
        .expect("refused while two are pending");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    drop(idle);
    assert!(eventually(|| server.places_taken(LOOPBACK) == 0));
    WsChat::join(&server);
}

#[test]
fn a_long_polling_member_holds_its_session_and_its_connections_under_the_cap() {
    // A polling member holds three places: its session, and the connections of its held GET
    // and of its POSTs (each kept alive).
    let server = server(capped(5));
    let web = server.ws_addr().unwrap();
    let mut member = PollingChat::join(web);
    assert!(eventually(|| server.places_taken(LOOPBACK) == 3));
    // A second one gets its two connections (places four and five), but no place for its
    // session: Socket.IO's CONNECT_ERROR, with the reason.
    let mut second = PollingChat::connect(web);
    let refused = second.poll();
    let error = r#"44{"message":"too many connections from your address (at most 5)"}"#;
    assert!(refused.iter().any(|p| p.to_text() == error), "{refused:?}");
    // A sixth connection is refused at the door, with a 503 saying why.
    let mut third = HttpClient::connect(web);
    let reply = third.request("GET", "/socket.io/?EIO=4&transport=polling", b"");
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(
        reply
            .text()
            .contains("too many connections from your address")
    );
    // The member chats on; another address joins.
    let udp = udp_join_from("127.0.0.5", &server);
    member.expect(&format!("* {} joined (2 online)", udp.nick));
    udp.send("hello");
    member.expect(&format!("{}: hello", udp.nick));
}
