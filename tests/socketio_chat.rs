//! The room over Socket.IO at `/socket.io/`, with a hand-written long-polling client (what the
//! page's fallback does): it chats with TCP, UDP and WebSocket members; `/who` lists it as
//! `polling`; a member that stops polling is evicted like any member that stops reading, while
//! the others go on; the room's caps and Origin rule hold; shutdown ends its session.

mod common;

use common::polling::{HttpClient, PollingChat};
use common::{TcpChat, UdpChat, WsChat, eventually, server, thread_count};
use plainsock::engineio::{Data, Packet, packet};
use std::time::Duration;

#[test]
fn a_polling_member_chats_with_tcp_udp_and_websocket_members() {
    let server = server(|_| {});
    let web = server.ws_addr().unwrap();
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    let mut ws = WsChat::join(&server);
    let mut polling = PollingChat::join(web);
    for member in [&mut tcp.nick, &mut udp.nick, &mut ws.nick] {
        assert!(!member.is_empty());
    }
    let joined = format!("* {} joined (4 online)", polling.nick);
    tcp.expect(&joined);
    ws.expect(&joined);

    polling.send("hello from long polling");
    let said = format!("{}: hello from long polling", polling.nick);
    tcp.expect(&said);
    udp.expect(&said);
    ws.expect(&said);
    polling.expect(&said);

    tcp.send("hi from tcp");
    udp.send("hi from udp");
    ws.send("hi from ws");
    // Three senders: the room's order among them is whichever came first.
    let mut want = vec![
        format!("{}: hi from tcp", tcp.nick),
        format!("{}: hi from udp", udp.nick),
        format!("{}: hi from ws", ws.nick),
    ];
    for _ in 0..20 {
        let line = polling.line();
        want.retain(|w| *w != line);
        if want.is_empty() {
            break;
        }
    }
    assert!(want.is_empty(), "never seen: {want:?}");

    tcp.send("/who");
    let who = tcp.expect_prefix("* 4 online: ");
    assert!(
        who.contains(&format!("{} (polling from 127.0.0.1:", polling.nick)),
        "{who}"
    );

    polling.send("/quit");
    tcp.expect(&format!("* {} left (3 online)", polling.nick));
}

#[test]
fn a_member_that_stops_polling_is_evicted_and_the_others_get_every_line() {
    let server = server(|c| c.max_outbox = 64 * 1024);
    let web = server.ws_addr().unwrap();
    let mut witness = TcpChat::join(&server);
    let mut listener = PollingChat::join(web);
    // Two that stop polling once they are in: their lines pile up in their outboxes.
    let stalled: Vec<PollingChat> = (0..2).map(|_| PollingChat::join(web)).collect();
    let mut evicted: Vec<String> = Vec::new();
    let line = "x".repeat(1000);
    for n in 0..500 {
        witness.send(&format!("{n} {line}"));
        let said = format!("{}: {n} {line}", witness.nick);
        for skipped in witness.expect(&said) {
            if skipped.contains(" dropped: too slow (") {
                evicted.push(skipped);
            }
        }
        listener.expect(&said);
        if evicted.len() == stalled.len() {
            break;
        }
    }
    for member in &stalled {
        assert!(
            evicted
                .iter()
                .any(|e| e.starts_with(&format!("* {} dropped", member.nick))),
            "{} was not evicted: {evicted:?}",
            member.nick
        );
    }
}

#[test]
fn a_foreign_origin_is_refused_and_the_page_s_own_is_not() {
    let server = server(|_| {});
    let web = server.ws_addr().unwrap();
    let mut client = HttpClient::connect(web);
    let handshake = "/socket.io/?EIO=4&transport=polling";
    client.send("GET", handshake, &[("Origin", "http://evil.example")], b"");
    let reply = client.reply();
    assert_eq!(reply.error(), (403, 4, "Forbidden".to_string()));

    // The client says `Host: test`: a page of http://test is our own.
    let mut client = HttpClient::connect(web);
    client.send("GET", handshake, &[("Origin", "http://test")], b"");
    let reply = client.reply();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().starts_with("0{"), "an open packet");
}

#[test]
fn polling_members_count_against_max_conns() {
    let server = server(|c| c.max_conns = 2);
    let web = server.ws_addr().unwrap();
    let mut tcp = TcpChat::join(&server);
    let _polling = PollingChat::join(web);
    let mut third = PollingChat::connect(web);
    // Socket.IO's refusal of a namespace: CONNECT_ERROR with the reason.
    let refused = third.poll();
    let error = r#"44{"message":"the room is full; try again later"}"#;
    assert!(refused.iter().any(|p| p.to_text() == error), "{refused:?}");
    tcp.send("/who");
    tcp.expect_prefix("* 2 online: ");
}

#[test]
fn shutdown_ends_a_held_poll_and_every_thread() {
    let before = thread_count();
    let server = server(|_| {});
    let web = server.ws_addr().unwrap();
    let mut polling = PollingChat::join(web);
    let mut tcp = TcpChat::join(&server);
    polling.expect(&format!("* {} joined (2 online)", tcp.nick));
    // A poll is held: nothing to say.
    let target = polling.target();
    polling.get.send("GET", &target, &[], b"");
    assert!(server.shutdown(), "every connection thread ended");
    // The held poll answers with the room's goodbye (and the close, if it came in time) ...
    let reply = polling.get.reply();
    assert_eq!(reply.status, 200);
    let packets = packet::decode_payload(&reply.body).expect("a payload");
    let goodbye = Packet::Message(Data::Text(
        r#"2["chat message","* server shutting down"]"#.into(),
    ));
    assert!(packets.contains(&goodbye), "{packets:?}");
    // ... and nothing more comes: the session and its connection are over.
    if packets.last() != Some(&Packet::Close) {
        assert!(polling.get.closed(), "the connection was closed");
    }
    assert!(tcp.closed());
    assert!(
        eventually(|| thread_count() <= before),
        "threads {} > {before}",
        thread_count()
    );
}

#[test]
fn a_member_whose_client_vanishes_mid_poll_leaves_when_its_ping_goes_unanswered() {
    let server = server(|c| {
        c.ping_interval = Duration::from_millis(300);
        c.pong_timeout = Duration::from_millis(300);
    });
    let web = server.ws_addr().unwrap();
    let mut witness = TcpChat::join(&server);
    let mut gone = PollingChat::join(web);
    witness.expect(&format!("* {} joined (2 online)", gone.nick));
    // A poll is held, then the client vanishes (its connections close without a word).
    let target = gone.target();
    gone.get.send("GET", &target, &[], b"");
    let nick = gone.nick.clone();
    drop(gone);
    witness.expect(&format!("* {nick} left (1 online)"));
    witness.send("still here");
    witness.expect(&format!("{}: still here", witness.nick));
}

#[test]
fn a_flood_of_sessions_is_bounded_and_the_room_goes_on() {
    let server = server(|c| c.max_conns = 5);
    let web = server.ws_addr().unwrap();
    let mut witness = TcpChat::join(&server);
    // Sessions that never join a namespace (each on a connection of its own, then closed):
    // like handshakes in progress, at most --max-conns + 256 of them.
    let mut refused = 0;
    for _ in 0..300 {
        let mut client = HttpClient::connect(web);
        let reply = client.request("GET", "/socket.io/?EIO=4&transport=polling", b"");
        match reply.status {
            200 => assert!(reply.text().starts_with("0{")),
            503 => {
                assert!(
                    reply.text().contains("too many sessions"),
                    "{}",
                    reply.text()
                );
                refused += 1;
            }
            other => panic!("{other}: {}", reply.text()),
        }
    }
    assert_eq!(refused, 300 - (5 + 256), "5 + 256 sessions at most");
    witness.send("unbothered");
    witness.expect(&format!("{}: unbothered", witness.nick));
}
