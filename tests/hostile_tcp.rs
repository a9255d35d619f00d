//! Hostile input on the TCP chat port, and faults at the door. The 1 MiB line, control bytes,
//! invalid UTF-8 and the half-closed socket are in tcp_chat.rs; here are the rows it lacks,
//! each with a TCP + WebSocket witness that must notice nothing.

mod common;
mod hostile;

use common::{TcpChat, WsChat, server};
use hostile::{Witness, answer, read_to_close, status_line};
use std::io::Write;
use std::net::{Shutdown, TcpStream};

#[test]
fn a_last_line_without_a_newline_is_still_said_before_leaving() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let mut member = TcpChat::join(&server);
    member.send_raw(b"no newline at the end").unwrap();
    member.stream.shutdown(Shutdown::Write).unwrap();
    witness
        .ws
        .expect(&format!("{}: no newline at the end", member.nick));
    witness
        .ws
        .expect(&format!("* {} left (2 online)", member.nick));
    assert!(member.closed());
    witness.only_witness_threads_left(&server);
    witness.still_chatting();
}

#[test]
fn an_overlong_line_trickled_in_small_writes_is_still_cut_at_the_limit() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let mut eve = TcpChat::join(&server);
    // 100 writes of 100 bytes, no newline: past 8 KiB it must end, however it arrives.
    for _ in 0..100 {
        if eve.send_raw(&[b'x'; 100]).is_err() {
            break;
        }
    }
    eve.expect("* error: line longer than 8192 bytes; closing");
    assert!(eve.closed());
    witness.only_witness_threads_left(&server);
    witness.still_chatting();
}

#[test]
fn hit_and_run_connections_leave_no_thread_behind() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    for _ in 0..300 {
        drop(TcpStream::connect(server.tcp_addr().unwrap()).unwrap());
        drop(TcpStream::connect(server.ws_addr().unwrap()).unwrap());
    }
    witness.only_witness_threads_left(&server);
    assert!(common::eventually(|| server.member_count() == 2));
    witness.still_chatting();
}

#[test]
fn a_flood_of_lines_from_one_member_does_not_starve_the_others() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let flooder = TcpChat::join(&server);
    let nick = flooder.nick.clone();
    let mut stream = flooder.stream.try_clone().unwrap();
    let total = 20_000;
    let flood = std::thread::spawn(move || {
        let lines: String = (0..total).map(|i| format!("flood {i}\n")).collect();
        stream.write_all(lines.as_bytes()).unwrap();
        flooder // kept open until the flood is written
    });
    // The witness's line takes its place among the flood's, and every flood line arrives in order.
    witness.tcp.send("witness during the flood");
    let mut next = 0;
    let mut saw_witness = false;
    while next < total || !saw_witness {
        let line = witness.ws.line();
        if let Some(n) = line.strip_prefix(&format!("{nick}: flood ")) {
            assert_eq!(n.parse::<usize>().unwrap(), next, "in order, none missing");
            next += 1;
        } else if line == format!("{}: witness during the flood", witness.tcp.nick) {
            saw_witness = true;
        }
    }
    let mut flooder = flood.join().unwrap();
    flooder.send("/quit");
    witness.still_chatting();
}

#[test]
fn a_tcp_connection_whose_thread_cannot_start_is_refused_alone() {
    // Spawns 1 and 2 are the witness's; the 3rd connection gets no thread.
    let server = server(|c| c.fail_nth_spawn = Some(3));
    let mut witness = Witness::join(&server);
    let mut unlucky = TcpChat::connect(server.tcp_addr().unwrap());
    assert_eq!(unlucky.line(), "* server full");
    assert!(unlucky.closed());
    witness.only_witness_threads_left(&server);
    let mut next = TcpChat::join(&server);
    next.send("the 4th got in");
    witness.ws.expect(&format!("{}: the 4th got in", next.nick));
    witness.still_chatting();
}

#[test]
fn a_websocket_connection_whose_thread_cannot_start_is_refused_alone() {
    let server = server(|c| c.fail_nth_spawn = Some(3));
    let mut witness = Witness::join(&server);
    let got = answer(
        server.ws_addr().unwrap(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(
        status_line(&got),
        "HTTP/1.1 503 Service Unavailable",
        "{got}"
    );
    witness.only_witness_threads_left(&server);
    let mut next = WsChat::join(&server);
    next.send("the 4th got in");
    witness
        .tcp
        .expect(&format!("{}: the 4th got in", next.nick));
    witness.still_chatting();
}

#[test]
fn a_websocket_member_that_half_closes_leaves_cleanly() {
    let server = server(|_| {});
    let mut witness = Witness::join(&server);
    let mut member = hostile::raw_upgrade(&server);
    member.shutdown(Shutdown::Write).unwrap();
    // No Close frame came: the server closes without one (RFC 6455 §7.1.5: 1006 for us).
    let rest = read_to_close(&mut member);
    assert!(
        rest.contains("* welcome, you are "),
        "the welcome frame, then the end: {rest:?}"
    );
    witness.only_witness_threads_left(&server);
    assert!(common::eventually(|| server.member_count() == 2));
    witness.still_chatting();
}
