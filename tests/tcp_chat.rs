//! TCP: one listening port, many sockets; and the chat room as `nc` users see it.

mod common;
mod hostile;

use common::{PATIENCE, TcpChat, WsChat, eventually, server};
use hostile::read_to_close;
use plainsock::tcp::TcpServer;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[test]
fn one_port_many_sockets_each_client_gets_its_own_answers() {
    // The server records what each accepted socket looks like from its side.
    let seen: Arc<Mutex<Vec<(SocketAddr, SocketAddr)>>> = Arc::default();
    let record = seen.clone();
    let server = TcpServer::start("127.0.0.1:0", move |stream: TcpStream, peer| {
        record
            .lock()
            .unwrap()
            .push((stream.local_addr().unwrap(), peer));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = (&stream).write_all(format!("{peer} said {line}").as_bytes());
            line.clear();
        }
    })
    .unwrap();
    let port = server.local_addr().port();

    let clients: Vec<TcpStream> = (0..100)
        .map(|_| {
            let s = TcpStream::connect(server.local_addr()).unwrap();
            s.set_read_timeout(Some(PATIENCE)).unwrap();
            s
        })
        .collect();
    for (i, client) in clients.iter().enumerate() {
        let mut reader = BufReader::new(client);
        (&*client)
            .write_all(format!("hello {i}\n").as_bytes())
            .unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert_eq!(
            answer,
            format!("{} said hello {i}\n", client.local_addr().unwrap())
        );
    }

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 100, "one accepted socket per client");
    assert!(
        seen.iter().all(|(local, _)| local.port() == port),
        "every socket shares the listening port"
    );
    let peers: HashSet<SocketAddr> = seen.iter().map(|(_, peer)| *peer).collect();
    assert_eq!(peers.len(), 100, "and each has its own peer address");
    server.shutdown();
}

#[test]
fn members_chat_as_one_room() {
    let server = server(|_| {});
    let mut alice = TcpChat::join(&server);
    let mut bob = TcpChat::join(&server);
    alice.expect(&format!("* {} joined (2 online)", bob.nick));

    alice.send("/nick alice");
    bob.expect(&format!("* {} is now alice", alice.nick));
    alice.send("hello, room");
    bob.expect("alice: hello, room");
    alice.expect("alice: hello, room");

    bob.send("/who");
    let who = bob.expect_prefix("* 2 online: ");
    assert!(
        who.contains("alice (tcp from 127.0.0.1:")
            && who.contains(&format!("{} (tcp from 127.0.0.1:", bob.nick)),
        "{who}"
    );

    bob.send("/help");
    bob.expect_prefix("* commands: /nick NAME");
    bob.send("/dance");
    bob.expect("* error: unknown command /dance (try /help)");
    bob.send("/nick alice");
    bob.expect("* error: the nick alice is taken");
    bob.send("/nick not*ok");
    bob.expect_prefix("* error: a nick uses only");

    bob.send("/quit");
    bob.expect("* bye");
    assert!(bob.closed(), "the server closes after /quit");
    alice.expect(&format!("* {} left (1 online)", bob.nick));
}

/// Every line starting with `/` gets an answer, and command words ignore case.
#[test]
fn every_command_is_answered_whatever_its_case() {
    let server = server(|_| {});
    let mut alice = TcpChat::join(&server);
    alice.send("/NICK alice");
    alice.expect(&format!("* {} is now alice", alice.nick));
    alice.send("/Who");
    let port = alice.stream.local_addr().unwrap().port();
    alice.expect(&format!("* 1 online: alice (tcp from 127.0.0.1:{port})"));
    alice.send("/nick alice");
    alice.expect("* you are already alice");
    // Not the fault-injection hook: that is off, so /panic is a word like /dance.
    alice.send("/panic");
    alice.expect("* error: unknown command /panic (try /help)");
    alice.send("/");
    alice.expect("* error: a command is / and a word, as in /help");
    alice.send("/QUIT");
    alice.expect("* bye");
    assert!(alice.closed(), "the server closes after /QUIT");
}

#[test]
fn newcomers_see_the_last_20_messages() {
    let server = server(|_| {});
    let mut old = TcpChat::join(&server);
    for i in 0..25 {
        old.send(&format!("message {i}"));
    }
    old.expect(&format!("{}: message 24", old.nick));
    let mut new = TcpChat::connect(server.tcp_addr().unwrap());
    // The welcome says how long lines may be and how many messages follow: the browser page
    // reads both from it.
    let welcome = new.expect_prefix("* welcome, you are ");
    assert!(
        welcome.ends_with("; lines up to 8192 bytes; the last 20 messages follow)"),
        "{welcome}"
    );
    let history: Vec<String> = (0..20).map(|_| new.line()).collect();
    let want: Vec<String> = (5..25)
        .map(|i| format!("{}: message {i}", old.nick))
        .collect();
    assert_eq!(history, want);
    let nick = common::nick_from_welcome(&welcome);
    new.expect(&format!("* {nick} joined (2 online)"));
}

#[test]
fn a_line_over_8_kib_gets_an_error_and_the_connection_closes() {
    let server = server(|_| {});
    let mut witness = TcpChat::join(&server);
    let mut eve = TcpChat::join(&server);
    // 1 MiB and no newline: the server must stop after 8 KiB, not buffer it all.
    let _ = eve.send_raw(&vec![b'x'; 1 << 20]);
    eve.expect("* error: line longer than 8192 bytes; closing");
    assert!(eve.closed());
    witness.expect(&format!("* {} left (1 online)", eve.nick));
    witness.send("still here");
    witness.expect(&format!("{}: still here", witness.nick));
}

#[test]
fn a_line_of_exactly_8_kib_is_fine() {
    let server = server(|_| {});
    let mut member = TcpChat::join(&server);
    let text = "y".repeat(8192);
    member.send(&text);
    member.expect(&format!("{}: {text}", member.nick));
}

#[test]
fn invalid_utf8_is_refused_and_control_bytes_are_defused() {
    let server = server(|_| {});
    let mut witness = TcpChat::join(&server);
    let mut member = TcpChat::join(&server);
    member.send_raw(b"caf\xe9\n").unwrap();
    member.expect("* error: that line was not UTF-8; dropped");
    member.send_raw(b"nul\0 and \x1b[31mred\n").unwrap();
    witness.expect(&format!("{}: nul\u{FFFD} and \u{FFFD}[31mred", member.nick));
    member.send("still a member");
    witness.expect(&format!("{}: still a member", member.nick));
}

#[test]
fn a_half_closed_client_leaves_cleanly() {
    let server = server(|_| {});
    let mut witness = TcpChat::join(&server);
    let mut leaver = TcpChat::join(&server);
    leaver.send("last words");
    leaver.stream.shutdown(std::net::Shutdown::Write).unwrap();
    witness.expect(&format!("{}: last words", leaver.nick));
    witness.expect(&format!("* {} left (1 online)", leaver.nick));
    assert!(leaver.closed(), "the server closes its side too");
}

#[test]
fn the_room_is_capped_by_max_conns() {
    let server = server(|c| c.max_conns = 2);
    let _a = TcpChat::join(&server);
    let _b = TcpChat::join(&server);
    let mut third = TcpChat::connect(server.tcp_addr().unwrap());
    assert_eq!(third.line(), "* server full");
    assert!(third.closed());
    drop(_a);
    assert!(eventually(|| server.member_count() == 1));
    TcpChat::join(&server);
}

/// One member stops reading while 10,000 messages go by: the others get every one, in order,
/// and the stalled member is dropped instead of slowing the room or growing its queue.
#[test]
fn a_member_that_stops_reading_is_dropped_and_slows_nobody() {
    let server = server(|c| c.write_timeout = Duration::from_millis(300));
    let mut stalled = TcpChat::join(&server);
    let sender = TcpChat::join(&server);
    let readers: Vec<TcpChat> = (0..2).map(|_| TcpChat::join(&server)).collect();
    let payload = "z".repeat(1000);
    let total = 10_000;
    let sender_nick = sender.nick.clone();

    // The sender is a member too, so it must keep reading its own echo while it sends.
    let mut sender_reader = TcpChat {
        stream: sender.stream.try_clone().unwrap(),
        ..sender
    };
    let mut writer = sender_reader.stream.try_clone().unwrap();
    let send_thread = thread::spawn(move || {
        for i in 0..total {
            writer
                .write_all(format!("{i} {}\n", &payload[..1000 - i.to_string().len()]).as_bytes())
                .unwrap();
        }
    });
    let echo_thread = thread::spawn(move || {
        sender_reader.expect_prefix(&format!("{}: {} ", sender_reader.nick, total - 1));
        sender_reader
    });
    let reader_threads: Vec<_> = readers
        .into_iter()
        .map(|mut r| {
            let nick = sender_nick.clone();
            thread::spawn(move || {
                let mut next = 0;
                let mut notices = Vec::new();
                while next < total {
                    let line = r.line();
                    if let Some(text) = line.strip_prefix(&format!("{nick}: ")) {
                        let n: usize = text.split(' ').next().unwrap().parse().unwrap();
                        assert_eq!(n, next, "messages arrive in order, none missing");
                        next += 1;
                    } else {
                        notices.push(line);
                    }
                }
                (r, notices)
            })
        })
        .collect();
    send_thread.join().unwrap();
    // Everyone else stays connected while we look at the room.
    let _sender = echo_thread.join().unwrap();
    let mut readers: Vec<(TcpChat, Vec<String>)> = reader_threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    // The stalled member was dropped: after what its buffers held, the stream ends.
    assert!(
        eventually(|| server.member_count() == 3),
        "{} members, want 3",
        server.member_count()
    );
    let dropped = format!("* {} dropped: too slow (3 online)", stalled.nick);
    for (r, notices) in &mut readers {
        if !notices.contains(&dropped) {
            r.expect(&dropped);
        }
    }
    let mut lines = 0;
    while stalled.try_line().is_some() {
        lines += 1;
        assert!(lines <= total + 100, "stalled stream never ends");
    }
    assert!(
        lines < total,
        "the stalled member cannot have received everything"
    );
}

#[test]
fn a_panicking_connection_thread_is_contained() {
    let server = server(|c| c.fault_injection = true);
    let mut witness = TcpChat::join(&server);
    let mut victim = TcpChat::join(&server);
    victim.send("/panic");
    assert!(victim.closed(), "the panicking member's connection closes");
    witness.expect(&format!("* {} left (1 online)", victim.nick));
    let mut newcomer = TcpChat::join(&server);
    newcomer.send("the room survived");
    witness.expect(&format!("{}: the room survived", newcomer.nick));
}

#[test]
fn a_big_room_hears_one_summary_of_joins_and_leaves_instead_of_each() {
    let server = server(|c| c.announce_up_to = 2);
    let mut first = TcpChat::join(&server);
    let second = TcpChat::join(&server);
    first.expect(&format!("* {} joined (2 online)", second.nick));
    // Over the limit: three join without a line each, and are summed up within a second.
    let newcomers: Vec<TcpChat> = (0..3).map(|_| TcpChat::join(&server)).collect();
    let skipped = first.expect("* 3 joined, 0 left (5 online)");
    assert!(
        skipped.is_empty(),
        "no line per join in a big room: {skipped:?}"
    );
    // Leaving down to the limit: two summed up, the last one announced on its own again.
    drop(newcomers);
    let summary = |l: &String| l.starts_with("* 0 joined, 2 left (");
    let last_one = |l: &String| l.ends_with(" left (2 online)") && !l.contains(" joined, ");
    let mut lines: Vec<String> = Vec::new();
    while !(lines.iter().any(summary) && lines.iter().any(last_one)) {
        lines.push(first.line());
        assert!(lines.len() <= 3, "{lines:?}");
    }
    assert_eq!(
        lines.len(),
        2,
        "one summary and one single notice: {lines:?}"
    );
    first.send("still fine");
    first.expect(&format!("{}: still fine", first.nick));
}

/// A server whose chat port waits long enough for a client's first line that no scheduling
/// delay on a busy machine can make the client late (the default is 100 ms; the other tests
/// wait none, see `ServerConfig::ephemeral`).
fn patient_server() -> plainsock::Server {
    server(|c| c.first_line_wait = Duration::from_secs(2))
}

/// A member alone in the room, past its own join notice (over WebSocket: a silent TCP member
/// would wait out the first-line wait).
fn witness(server: &plainsock::Server) -> WsChat {
    let mut witness = WsChat::join(server);
    witness.expect(&format!("* {} joined (1 online)", witness.nick));
    witness
}

/// A witness says a fresh line and reads it back: whatever arrives before it is returned, so
/// a test can check that nothing of an attack reached the room.
fn lines_before_own(witness: &mut WsChat, n: usize) -> Vec<String> {
    witness.send(&format!("witness line {n}"));
    witness.expect(&format!("{}: witness line {n}", witness.nick))
}

#[test]
fn an_http_request_on_the_chat_port_gets_400_and_reaches_nobody() {
    let server = patient_server();
    let mut witness = witness(&server);
    let tcp = server.tcp_addr().unwrap();
    let web = server.ws_addr().unwrap();
    let requests = [
        // curl -H 'Cookie: session=SECRET' http://HOST:7000/
        format!(
            "GET / HTTP/1.1\r\nHost: {tcp}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nCookie: session=SECRET\r\n\r\n"
        ),
        // A page's form posting chat lines across protocols.
        format!(
            "POST /x HTTP/1.1\r\nHost: {tcp}\r\nCookie: session=SECRET\r\nContent-Length: 18\r\n\r\n/nick evil\ninjected\n"
        ),
    ];
    for request in requests {
        let mut client = TcpStream::connect(tcp).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        client.write_all(request.as_bytes()).unwrap();
        let answer = read_to_close(&mut client);
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with(&format!(
                "this is the TCP chat port; the web page is at http://{web}/\n"
            )),
            "{answer}"
        );
        assert!(!answer.contains("welcome"), "it joined the room: {answer}");
    }
    // Nothing of either request reached the room: not a line, not a join.
    assert_eq!(lines_before_own(&mut witness, 1), Vec::<String>::new());
    // Nor the history a newcomer is shown.
    let mut newcomer = WsChat::join(&server);
    let shown = newcomer.expect(&format!("{}: witness line 1", witness.nick));
    assert!(
        shown
            .iter()
            .all(|l| !l.contains("SECRET") && !l.contains("HTTP") && !l.contains("injected")),
        "{shown:?}"
    );
    assert_eq!(server.member_count(), 2);
}

#[test]
fn a_tls_client_hello_on_the_chat_port_is_refused_before_joining() {
    let server = patient_server();
    let mut witness = witness(&server);
    let mut client = TcpStream::connect(server.tcp_addr().unwrap()).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    client
        .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xab\xcd\xef")
        .unwrap();
    let answer = read_to_close(&mut client);
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert_eq!(lines_before_own(&mut witness, 2), Vec::<String>::new());
}

#[test]
fn a_websocket_client_on_the_chat_port_fails_at_once_saying_where_the_page_is() {
    let server = patient_server();
    let mut witness = witness(&server);
    let url = format!("ws://{}/ws", server.tcp_addr().unwrap());
    let err = plainsock::ws::client::connect(&url)
        .unwrap_err()
        .to_string();
    let web = server.ws_addr().unwrap();
    assert_eq!(
        err,
        format!(
            "WebSocket handshake refused: 400 Bad Request: this is the TCP chat port; the web page is at http://{web}/"
        )
    );
    assert_eq!(lines_before_own(&mut witness, 3), Vec::<String>::new());
}

#[test]
fn a_request_line_after_the_welcome_is_not_broadcast_either() {
    // A client slower than the first-line wait (the default, 100 ms) joins first; its request
    // line still never reaches the room.
    let server = server(|c| c.first_line_wait = Duration::from_millis(100));
    let mut witness = witness(&server);
    let mut late = TcpChat::join(&server);
    witness.expect(&format!("* {} joined (2 online)", late.nick));
    late.send("GET / HTTP/1.1");
    late.send("Cookie: session=SECRET");
    let notice = late.expect_prefix("* error: ");
    assert!(notice.contains("this is the TCP chat port"), "{notice}");
    assert!(late.closed());
    let seen = lines_before_own(&mut witness, 4);
    assert_eq!(seen, vec![format!("* {} left (1 online)", late.nick)]);
}

#[test]
fn a_first_line_sent_at_once_is_said_after_the_welcome() {
    // `printf 'hello\n' | nc HOST 7000`: the line is read (and found not to be HTTP) before
    // the member joins; it still comes after the welcome.
    let server = patient_server();
    let mut piped = TcpChat::connect(server.tcp_addr().unwrap());
    piped.send("GET me a coffee");
    piped.nick = common::nick_from_welcome(&piped.line());
    piped.expect(&format!("{}: GET me a coffee", piped.nick));
}
