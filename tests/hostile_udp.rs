//! Hostile datagrams on the UDP chat port. Oversized and invalid UTF-8 datagrams are in
//! udp_chat.rs; here: the empty datagram, a spoofed-source flood, and a panic while handling
//! one datagram — each while a TCP + WebSocket witness keeps chatting.

mod common;
mod hostile;

use common::{UdpChat, eventually, server};
use hostile::Witness;
use std::net::UdpSocket;
use std::time::Duration;

#[test]
fn an_empty_datagram_from_a_member_says_nothing_and_gets_no_answer() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let mut udp = UdpChat::join(&server);
    udp.expect(&format!("* {} joined (3 online)", udp.nick));
    udp.send_raw(b"");
    udp.send("after the empty one");
    // The very next line either sees is the real message: the empty datagram made no line.
    let line = format!("{}: after the empty one", udp.nick);
    assert_eq!(udp.line(), line);
    let skipped = witness.tcp.expect(&line);
    assert_eq!(skipped, vec![format!("* {} joined (3 online)", udp.nick)]);
    witness.still_chatting();
}

#[test]
fn a_maximum_size_datagram_from_a_stranger_joins_it_and_is_refused_as_too_long() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let mut udp = UdpChat::connect(server.udp_addr().unwrap());
    udp.send_raw(&vec![b'x'; 65_507]);
    udp.expect_prefix("* welcome, you are ");
    udp.expect("* error: message longer than 8192 bytes; dropped");
    witness.still_chatting();
}

/// 10,000 datagrams, each from a new source port on 127.0.0.1 (as a spoofer would send
/// them), in batches of 100 sockets, so the test never holds many descriptors. The peer table
/// stays at its cap, the strangers expire when idle, and the known peers miss nothing.
#[test]
fn a_spoofed_flood_from_10000_ports_keeps_the_peer_table_bounded() {
    const CAP: usize = 50;
    let server = server(|c| {
        c.max_udp_peers = CAP;
        c.udp_idle = Duration::from_secs(2);
    });
    let mut witness = Witness::join(&server);
    let mut known: Vec<UdpChat> = (0..3).map(|_| UdpChat::join(&server)).collect();
    let udp_addr = server.udp_addr().unwrap();
    for batch in 0..100 {
        let spoofed: Vec<UdpSocket> = (0..100)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for socket in &spoofed {
            socket.send_to(b"let me in", udp_addr).unwrap();
        }
        drop(spoofed);
        // A known peer speaks after the batch; the socket is FIFO, so once the room has its
        // line, the server has handled the whole batch. Every known peer gets every line.
        let line = format!("batch {batch} done");
        known[0].send(&line);
        let line = format!("{}: {line}", known[0].nick);
        witness.tcp.expect(&line);
        for peer in &mut known {
            peer.expect(&line);
        }
        assert!(
            server.member_count() <= 2 + CAP,
            "{}",
            server.member_count()
        );
    }
    // The strangers fall silent and expire; the known peers keep themselves alive with empty
    // datagrams (which say nothing).
    assert!(
        eventually(|| {
            for peer in &known {
                peer.send_raw(b"");
            }
            server.member_count() == 2 + known.len()
        }),
        "{} members",
        server.member_count()
    );
    // The table has room again: a newcomer joins.
    let newcomer = UdpChat::join(&server);
    newcomer.send("room for me again");
    let line = format!("{}: room for me again", newcomer.nick);
    for peer in &mut known {
        peer.expect(&line);
    }
    witness.still_chatting();
}

#[test]
fn a_panic_while_handling_one_datagram_does_not_stop_the_udp_service() {
    let server = server(|c| c.fault_injection = true);
    let mut witness = Witness::join(&server);
    let victim = UdpChat::join(&server);
    let mut bystander = UdpChat::join(&server);
    victim.send("/panic");
    witness
        .tcp
        .expect(&format!("* {} left (3 online)", victim.nick));
    // The service still reads datagrams: an old peer chats, and a new one joins.
    bystander.send("udp still works");
    witness
        .ws
        .expect(&format!("{}: udp still works", bystander.nick));
    let newcomer = UdpChat::join(&server);
    newcomer.send("and takes newcomers");
    bystander.expect(&format!("{}: and takes newcomers", newcomer.nick));
    witness.still_chatting();
}
