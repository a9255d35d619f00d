//! Members that stop reading, or read too slowly, never slow the others: every honest member
//! gets every line in order, and each stalled member is evicted with its notice or close code.
//! (How fast is shown by `make bench`, scenario 8; here: complete, in order, evicted.)

mod common;

use common::{PATIENCE, TcpChat, WsChat, eventually, server};
use plainsock::Server;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// An honest member on its own thread: reads until `sender`'s line number `last`, checking
/// that `sender`'s lines come in order with none missing; returns the nicks it saw dropped.
fn honest_tcp(mut chat: TcpChat, sender: String, last: usize) -> JoinHandle<HashSet<String>> {
    let me = chat.nick.clone();
    honest(move || chat.line(), me, sender, last)
}

fn honest_ws(mut chat: WsChat, sender: String, last: usize) -> JoinHandle<HashSet<String>> {
    let me = chat.nick.clone();
    honest(move || chat.line(), me, sender, last)
}

fn honest(
    mut line: impl FnMut() -> String + Send + 'static,
    me: String,
    sender: String,
    last: usize,
) -> JoinHandle<HashSet<String>> {
    thread::spawn(move || {
        let mut dropped = HashSet::new();
        let mut next = 0;
        while next <= last {
            next = check(&line(), &sender, next, &mut dropped, &me);
        }
        dropped
    })
}

/// One room line as an honest member sees it: the sender's next numbered line, or a notice.
fn check(line: &str, sender: &str, next: usize, dropped: &mut HashSet<String>, me: &str) -> usize {
    if let Some(rest) = line.strip_prefix(&format!("{sender}: ")) {
        let n: usize = rest[..5].parse().unwrap();
        assert_eq!(n, next, "{me}: line {n} came when {next} was due");
        return next + 1;
    }
    // "* NICK dropped: too slow (N online)"
    if let Some((nick, _)) = line
        .strip_prefix("* ")
        .and_then(|l| l.split_once(" dropped: too slow"))
    {
        dropped.insert(nick.to_string());
    }
    next
}

/// Sends `count` numbered lines of `size` bytes from a TCP member, `pause` apart; its own echo
/// is read on another thread so that it is an honest member too.
fn send_lines(
    server: &Server,
    count: usize,
    size: usize,
    pause: Duration,
) -> (String, JoinHandle<()>) {
    let sender = TcpChat::join(server);
    let nick = sender.nick.clone();
    let mut writer = sender.stream.try_clone().unwrap();
    let filler = "s".repeat(size - 6);
    let last = format!("{nick}: {:05} ", count - 1);
    let mut echo = sender;
    let echoes = thread::spawn(move || {
        echo.expect_prefix(&last);
    });
    let send = thread::spawn(move || {
        for i in 0..count {
            writer
                .write_all(format!("{i:05} {filler}\n").as_bytes())
                .unwrap();
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
        echoes.join().unwrap();
    });
    (nick, send)
}

/// After the last line: no honest reader saw anyone but a stalled member dropped, and, the
/// honest members and the sender having left, an empty room means each stalled one was evicted.
fn only_the_stalled_were_dropped_and_all_of_them(
    server: &Server,
    readers: Vec<JoinHandle<HashSet<String>>>,
    stalled_nicks: &HashSet<String>,
) {
    for reader in readers {
        let dropped = reader.join().unwrap();
        assert!(
            dropped.is_subset(stalled_nicks),
            "only stalled members were dropped: {dropped:?}"
        );
    }
    assert!(
        eventually(|| server.member_count() == 0),
        "{} stalled members were not evicted",
        server.member_count()
    );
}

/// Joins a TCP member that never reads again after its welcome.
fn stalled_tcp(server: &Server) -> TcpChat {
    TcpChat::join(server)
}

#[test]
fn forty_tcp_members_that_never_read_do_not_slow_eight_that_do() {
    let server = server(|c| c.write_timeout = Duration::from_secs(1));
    let honest: Vec<TcpChat> = (0..8).map(|_| TcpChat::join(&server)).collect();
    let stalled: Vec<TcpChat> = (0..40).map(|_| stalled_tcp(&server)).collect();
    // 8 KB every 5 ms for 6 s: 9.6 MB, more than a stalled member's kernel buffers hold.
    const LINES: usize = 1200;
    let (sender, send) = send_lines(&server, LINES, 8000, Duration::from_millis(5));
    let readers: Vec<_> = honest
        .into_iter()
        .map(|chat| honest_tcp(chat, sender.clone(), LINES - 1))
        .collect();
    send.join().unwrap();
    let mut seen_dropped = HashSet::new();
    for reader in readers {
        seen_dropped.extend(reader.join().unwrap());
    }
    // The honest members and the sender have left; the stalled ones are still connected
    // from this side, so an empty room means each of them was evicted.
    assert!(
        eventually(|| server.member_count() == 0),
        "{} stalled members were not evicted",
        server.member_count()
    );
    for mut chat in stalled {
        assert!(chat.closed(), "{} was closed", chat.nick);
    }
    eprintln!(
        "slow_members: the honest members saw {} of the 40 evictions before their last line",
        seen_dropped.len()
    );
}

#[test]
fn stalled_websocket_and_tcp_members_are_evicted_and_the_rest_get_every_line() {
    let server = server(|c| c.write_timeout = Duration::from_secs(1));
    let honest_tcp_members: Vec<TcpChat> = (0..5).map(|_| TcpChat::join(&server)).collect();
    let honest_ws_members: Vec<WsChat> = (0..10).map(|_| WsChat::join(&server)).collect();
    let stalled_ws: Vec<WsChat> = (0..10).map(|_| WsChat::join(&server)).collect();
    let stalled: Vec<TcpChat> = (0..5).map(|_| stalled_tcp(&server)).collect();
    let stalled_nicks: HashSet<String> = stalled_ws
        .iter()
        .map(|c| c.nick.clone())
        .chain(stalled.iter().map(|c| c.nick.clone()))
        .collect();
    // 4 KiB every 2 ms for 6 s: 12 MB.
    const LINES: usize = 3000;
    let (sender, send) = send_lines(&server, LINES, 4096, Duration::from_millis(2));
    let mut readers: Vec<_> = honest_tcp_members
        .into_iter()
        .map(|chat| honest_tcp(chat, sender.clone(), LINES - 1))
        .collect();
    readers.extend(
        honest_ws_members
            .into_iter()
            .map(|chat| honest_ws(chat, sender.clone(), LINES - 1)),
    );
    send.join().unwrap();
    only_the_stalled_were_dropped_and_all_of_them(&server, readers, &stalled_nicks);
    // A stalled WebSocket member reads what its buffers held, then the end: the server
    // shut the connection (its Close 1008 goes out only where the full socket still takes it).
    for mut chat in stalled_ws {
        let code = read_to_end_ws(&mut chat);
        assert!(
            code.is_none() || code == Some(1008),
            "{}: close code {code:?}",
            chat.nick
        );
    }
}

#[test]
fn stalled_socketio_members_on_websocket_are_evicted_and_the_rest_get_every_line() {
    let server = server(|c| c.write_timeout = Duration::from_secs(1));
    let web = server.ws_addr().unwrap();
    let honest_members: Vec<WsChat> = (0..5).map(|_| WsChat::join(&server)).collect();
    // They join, read their welcome, and never read again; the lanes write to their sockets
    // through the Engine.IO session.
    let stalled: Vec<_> = (0..5)
        .map(|_| common::polling::socketio_websocket_join(web))
        .collect();
    let stalled_nicks: HashSet<String> = stalled.iter().map(|(_, nick)| nick.clone()).collect();
    // 4 KiB every 2 ms for 4 s: 8 MB, more than a stalled member's kernel buffers hold.
    const LINES: usize = 2000;
    let (sender, send) = send_lines(&server, LINES, 4096, Duration::from_millis(2));
    let readers: Vec<_> = honest_members
        .into_iter()
        .map(|chat| honest_ws(chat, sender.clone(), LINES - 1))
        .collect();
    send.join().unwrap();
    only_the_stalled_were_dropped_and_all_of_them(&server, readers, &stalled_nicks);
    drop(stalled);
}

#[test]
fn a_websocket_member_that_stops_reading_is_found_out_by_its_unanswered_ping() {
    // The room says far less than the kernel buffers of a socket hold, so the stalled
    // member's socket never fills and its outbox stays empty: only its read receipt (the
    // Pong to the Ping that went with its lines) can tell that it does not read.
    let server = server(|c| c.write_timeout = Duration::from_millis(500));
    let (mut witness, mut sender, mut stalled) = witness_sender_and_stalled(&server);
    // 40 lines of 4 KB: past the first mark (16 KiB), far under the 4 MB a socket takes.
    let filler = "f".repeat(4000);
    for n in 0..40 {
        sender.send(&format!("{n:05} {filler}"));
        witness.expect(&format!("{}: {n:05} {filler}", sender.nick));
    }
    // Then a line every 100 ms: each is a chance to see that the Ping went unanswered.
    let dropped = format!("* {} dropped: too slow", stalled.nick);
    let mut evicted = false;
    for n in 0..100 {
        sender.send(&format!("tick {n}"));
        let seen = witness.expect(&format!("{}: tick {n}", sender.nick));
        if seen.iter().any(|line| line.starts_with(&dropped)) {
            evicted = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(evicted, "{} was never dropped", stalled.nick);
    // Its socket was never full, so its Close came through: 1008, policy (too slow).
    assert_eq!(read_to_end_ws(&mut stalled), Some(1008));
}

#[test]
fn a_websocket_member_that_stops_reading_is_sent_little_more_than_its_first_mark() {
    // Its kernel buffers would take 4 MB and more; once its first Ping is late, its lines wait
    // in its outbox instead (shared with everyone's), where the bounds evict it.
    let server = server(|c| c.write_timeout = Duration::from_secs(1));
    let (mut witness, mut sender, mut stalled) = witness_sender_and_stalled(&server);
    // About 2 MB/s: a 4 KB line every 2 ms, until the stalled member is dropped.
    let filler = "f".repeat(4000);
    let dropped = format!("* {} dropped: too slow", stalled.nick);
    let mut said = 0;
    let mut evicted = false;
    for n in 0..2_000 {
        sender.send(&format!("{n:05} {filler}"));
        said += filler.len() + 6;
        let seen = witness.expect(&format!("{}: {n:05} {filler}", sender.nick));
        if seen.iter().any(|line| line.starts_with(&dropped)) {
            evicted = true;
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    assert!(evicted, "{} was never dropped", stalled.nick);
    let (got, code) = read_to_end_counting(&mut stalled);
    assert_eq!(code, Some(1008), "dropped as too slow");
    assert!(
        said >= 1 << 20 && got <= 256 << 10,
        "the room said {said} bytes before the drop; the member that never read was sent {got}"
    );
}

/// Three WebSocket/TCP members of a fresh room: one that reads (the witness), one that talks,
/// and one that will never read, once the witness has seen it join.
fn witness_sender_and_stalled(server: &Server) -> (WsChat, TcpChat, WsChat) {
    let mut witness = WsChat::join(server);
    let sender = TcpChat::join(server);
    let stalled = WsChat::join(server);
    witness.expect(&format!("* {} joined (3 online)", stalled.nick));
    (witness, sender, stalled)
}

/// Reads a WebSocket until it ends; the close code, if a Close came.
fn read_to_end_ws(chat: &mut WsChat) -> Option<u16> {
    read_to_end_counting(chat).1
}

/// Reads a WebSocket until it ends: the bytes of text it got, and the close code.
fn read_to_end_counting(chat: &mut WsChat) -> (usize, Option<u16>) {
    let mut got = 0;
    for _ in 0..1_000_000 {
        let code = match chat.socket.read() {
            Ok(plainsock::ws::Message::Close(frame)) => frame.map(|f| f.code),
            Ok(plainsock::ws::Message::Text(text)) => {
                got += text.len();
                continue;
            }
            Ok(_) => continue,
            Err(plainsock::ws::Error::Closed { code, .. }) => code,
            Err(_) => None,
        };
        return (got, code);
    }
    panic!("{}: never ended", chat.nick)
}

#[test]
fn a_member_that_reads_slowly_but_steadily_is_evicted_and_slows_nobody() {
    let server = server(|c| c.write_timeout = Duration::from_millis(500));
    let witness = TcpChat::join(&server);
    let slow = TcpChat::join(&server);
    let slow_nick = slow.nick.clone();
    // 16 KiB every 100 ms (160 KB/s) while the room sends about 1 MB/s.
    let reader = thread::spawn(move || {
        let mut stream = slow.stream;
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = vec![0u8; 16 * 1024];
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(_) => thread::sleep(Duration::from_millis(100)),
            }
        }
        false
    });
    const LINES: usize = 1500;
    let (sender, send) = send_lines(&server, LINES, 8000, Duration::from_millis(8));
    let dropped = honest_tcp(witness, sender, LINES - 1).join().unwrap();
    send.join().unwrap();
    assert!(reader.join().unwrap(), "the slow reader's connection ended");
    assert!(
        dropped.contains(&slow_nick),
        "the room was told {slow_nick} dropped: {dropped:?}"
    );
}
