//! UDP: one socket serves every peer; a datagram is a line; peers come and go without connections.

mod common;

use common::{TcpChat, UdpChat, eventually, server};
use std::time::Duration;

#[test]
fn tcp_and_udp_members_share_one_room() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    tcp.expect(&format!("* {} joined (2 online)", udp.nick));

    // A trailing newline, as `nc -u` sends it, is not part of the message.
    udp.send("hello from udp\n");
    tcp.expect(&format!("{}: hello from udp", udp.nick));
    udp.expect(&format!("{}: hello from udp", udp.nick));

    tcp.send("hello from tcp");
    // Each room line arrives as exactly one datagram, without a newline.
    udp.expect(&format!("{}: hello from tcp", tcp.nick));

    udp.send("/who");
    let who = udp.expect_prefix("* 2 online: ");
    assert!(
        who.contains(&format!("{} (udp from 127.0.0.1:", udp.nick))
            && who.contains(&format!("{} (tcp from 127.0.0.1:", tcp.nick))
    );
}

#[test]
fn any_first_datagram_joins_and_is_also_a_message() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::connect(server.udp_addr().unwrap());
    udp.send("hi all");
    let nick = common::nick_from_welcome(&udp.line());
    tcp.expect(&format!("* {nick} joined (2 online)"));
    tcp.expect(&format!("{nick}: hi all"));
}

/// `printf 'a\nb\n' | nc -u HOST PORT` sends both lines in one datagram: two messages.
#[test]
fn a_datagram_of_several_lines_is_several_messages() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let udp = UdpChat::join(&server);
    udp.send("first\nsecond\r\nthird\n");
    for text in ["first", "second", "third"] {
        tcp.expect(&format!("{}: {text}", udp.nick));
    }
    // Lines after a /quit in the same datagram are not said.
    udp.send("last words\n/quit\nnot said\n");
    tcp.expect(&format!("{}: last words", udp.nick));
    let skipped = tcp.expect(&format!("* {} left (1 online)", udp.nick));
    assert!(skipped.is_empty(), "{skipped:?}");
    tcp.send("after");
    let skipped = tcp.expect(&format!("{}: after", tcp.nick));
    assert!(skipped.is_empty(), "{skipped:?}");
}

#[test]
fn peers_are_told_apart_by_their_address() {
    let server = server(|_| {});
    let mut a = UdpChat::join(&server);
    let b = UdpChat::join(&server);
    assert_ne!(a.nick, b.nick);
    b.send("/nick bee");
    a.expect(&format!("* {} is now bee", b.nick));
    a.send("/nick ay");
    a.expect(&format!("* {} is now ay", a.nick));
}

#[test]
fn oversized_and_invalid_datagrams_get_an_error_back() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    udp.send_raw(&vec![b'x'; 8193]);
    udp.expect("* error: message longer than 8192 bytes; dropped");
    udp.send_raw(&vec![b'x'; 65_507]);
    udp.expect("* error: message longer than 8192 bytes; dropped");
    udp.send_raw(b"caf\xe9");
    udp.expect("* error: that message was not UTF-8; dropped");
    udp.send("fine");
    // Nothing of the bad datagrams reached the room: the next message is the good one.
    let skipped = tcp.expect(&format!("{}: fine", udp.nick));
    assert!(skipped.iter().all(|l| l.starts_with("* ")), "{skipped:?}");
}

#[test]
fn quit_says_bye_and_the_next_datagram_joins_anew() {
    let server = server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    udp.send("/quit");
    udp.expect("* bye");
    tcp.expect(&format!("* {} left (1 online)", udp.nick));
    udp.send("back again");
    let welcome = udp.expect_prefix("* welcome, you are ");
    assert_ne!(common::nick_from_welcome(&welcome), udp.nick);
}

#[test]
fn a_silent_peer_leaves_after_the_idle_time() {
    let server = server(|c| c.udp_idle = Duration::from_millis(500));
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    udp.expect("* idle for 0 s: you left the room (send anything to rejoin)");
    tcp.expect(&format!("* {} left (1 online)", udp.nick));
}

#[test]
fn the_peer_table_is_capped() {
    let server = server(|c| c.max_udp_peers = 3);
    let mut known: Vec<UdpChat> = (0..3).map(|_| UdpChat::join(&server)).collect();
    let mut stranger = UdpChat::connect(server.udp_addr().unwrap());
    stranger.send("let me in");
    assert_eq!(stranger.line(), "* server full");
    assert!(eventually(|| server.member_count() == 3));
    known[0].send("members still chat");
    let line = format!("{}: members still chat", known[0].nick);
    for peer in &mut known {
        peer.expect(&line);
    }
}
