//! Soak: 210 members over TCP, WebSocket, Socket.IO long polling and UDP each send 500 lines
//! (105,000 in all) while other clients join, talk and leave. Every TCP, WebSocket and polling
//! member present for the whole run sees every line exactly once, all in the same (the hub's)
//! order; UDP members see the lines in that order too, minus what their kernel dropped
//! (reported). Afterwards the server's threads
//! and memory are back where they started. Alone in its file (its own process).

mod common;

use common::polling::{HttpClient, PollingChat};
use common::{TcpChat, UdpChat, WsChat, eventually, rss_kib, thread_count};
use plainsock::json::Json;
use plainsock::ws::Message;
use std::io::{BufRead, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const TCP: usize = 80;
const WS: usize = 60;
const POLLING: usize = 10;
const UDP: usize = 60;
/// Members whose lines cannot be lost on the way in: TCP, WebSocket and polling, numbered
/// first; then UDP.
const RELIABLE: usize = TCP + WS + POLLING;
const CLIENTS: usize = RELIABLE + UDP;
const PER_CLIENT: usize = 500;
const TOTAL: usize = CLIENTS * PER_CLIENT;
/// A UDP sender waits for its own echo once this many of its lines are unconfirmed, so the
/// server's receive buffer is never flooded (UDP has no other backpressure).
const UDP_WINDOW: usize = 4;
/// The whole soak, on the 2-core machines, takes well under this.
const SOAK_LIMIT: Duration = Duration::from_secs(60);

/// What one member saw between the START and END markers.
#[derive(Default)]
struct Seen {
    /// FNV-1a over every message line: equal sequences, equal hashes.
    hash: u64,
    /// Long-lived senders' lines as `client * PER_CLIENT + n`, in arrival order (kept by the
    /// reference member and the UDP members only).
    order: Vec<u32>,
    keep_order: bool,
    /// Lines seen from long-lived TCP, WebSocket and polling senders ...
    count: usize,
    /// ... and from long-lived UDP senders (whose datagrams may be lost on the way in).
    from_udp: usize,
    /// Lines of other (churning) clients.
    churn: usize,
    /// Lines out of a sender's order, or seen twice.
    errors: Vec<String>,
    /// Lines seen from each sender, and the first of its numbers that was skipped.
    per_sender: Vec<(usize, Option<usize>)>,
}

impl Seen {
    fn new(keep_order: bool) -> Seen {
        Seen {
            hash: 0xcbf2_9ce4_8422_2325,
            order: Vec::with_capacity(if keep_order { TOTAL } else { 0 }),
            keep_order,
            per_sender: vec![(0, None); CLIENTS],
            ..Seen::default()
        }
    }

    /// Takes one room line; returns false at the END marker.
    fn take(&mut self, line: &str, coordinator: &str, next: &mut [usize]) -> bool {
        let Some((_nick, text)) = line.split_once(": ") else {
            return true;
        };
        if line.starts_with("* ") {
            return true;
        }
        if text == "END" && line.starts_with(coordinator) {
            return false;
        }
        for b in line.bytes() {
            self.hash = (self.hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        if let Some(rest) = text.strip_prefix("c") {
            let mut parts = rest.split(' ');
            let (Some(Ok(c)), Some(Ok(n))) = (
                parts.next().map(str::parse::<usize>),
                parts.next().map(str::parse::<usize>),
            ) else {
                self.errors.push(format!("garbled: {line:?}"));
                return true;
            };
            if c >= CLIENTS || n < next[c] {
                self.errors.push(format!("again or out of order: {line:?}"));
                return true;
            }
            let sender = &mut self.per_sender[c];
            sender.0 += 1;
            if n > next[c] && sender.1.is_none() {
                sender.1 = Some(next[c]);
            }
            next[c] = n + 1;
            if c < RELIABLE {
                self.count += 1;
            } else {
                self.from_udp += 1;
            }
            if self.keep_order {
                self.order.push((c * PER_CLIENT + n) as u32);
            }
        } else {
            self.churn += 1;
        }
        true
    }
}

/// A member's reader (WebSocket, polling): records its room lines from START to END.
fn record(
    c: usize,
    coordinator: &str,
    echoed: &[AtomicUsize],
    mut next_text: impl FnMut() -> String,
) -> Seen {
    let mut seen = Seen::new(false);
    let mut next = vec![0; CLIENTS];
    let mut started = false;
    loop {
        let text = next_text();
        if !started {
            started = is_start(&text, coordinator);
            continue;
        }
        if !seen.take(&text, coordinator, &mut next) {
            return seen;
        }
        echoed[c].store(next[c], Ordering::Release);
    }
}

/// Waits for the START marker: everything before it is setup.
fn is_start(line: &str, coordinator: &str) -> bool {
    line == format!("{coordinator}: START")
}

#[test]
fn members_of_every_transport_105000_lines_with_churn() {
    let started = Instant::now();
    let threads_at_start = thread_count();
    let rss_at_start = rss_kib();
    let server = common::server(|c| {
        // The soak is about delivery: a test thread starved for a while by 400 others must
        // not be evicted as a slow reader.
        c.write_timeout = Duration::from_secs(10);
        c.history = 0;
    });

    // Everyone joins first; tcp[0] coordinates.
    let mut tcp: Vec<TcpChat> = (0..TCP).map(|_| TcpChat::join(&server)).collect();
    let ws: Vec<WsChat> = (0..WS).map(|_| WsChat::join(&server)).collect();
    let web = server.ws_addr().unwrap();
    let polling: Vec<PollingChat> = (0..POLLING).map(|_| PollingChat::join(web)).collect();
    let udp: Vec<UdpChat> = (0..UDP).map(|_| UdpChat::join(&server)).collect();
    assert!(eventually(|| server.member_count() == CLIENTS));
    let coordinator = tcp[0].nick.clone();
    let mut control = tcp[0].stream.try_clone().unwrap();
    control.write_all(b"START\n").unwrap();
    // START is in the room before anyone sends: no line can overtake it.
    tcp[0].expect(&format!("{coordinator}: START"));

    // Every member: a reader thread that records the run, a sender thread that sends 500 lines.
    let go = Arc::new(Barrier::new(CLIENTS + 1));
    let udp_end = Arc::new(AtomicBool::new(false));
    let echoed: Arc<Vec<AtomicUsize>> =
        Arc::new((0..CLIENTS).map(|_| AtomicUsize::new(0)).collect());
    // How far each sender's lines have reached member 1 (so, the room).
    let reached: Arc<Vec<AtomicUsize>> =
        Arc::new((0..CLIENTS).map(|_| AtomicUsize::new(0)).collect());
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    let spawn_sender = |c: usize, mut send: Box<dyn FnMut(&str) + Send>, window: Option<usize>| {
        let (go, echoed) = (go.clone(), echoed.clone());
        thread::spawn(move || {
            go.wait();
            for n in 0..PER_CLIENT {
                if let Some(window) = window {
                    // Pacing only: a UDP sender waits a little for its own echo so that it
                    // does not flood the server's socket. Echoes are lost like any datagram
                    // (the room does not slow down for a UDP reader that falls behind, so
                    // its kernel drops what does not fit), so it never waits long for one.
                    let deadline = Instant::now() + Duration::from_millis(20);
                    while echoed[c].load(Ordering::Acquire) + window < n + 1
                        && Instant::now() < deadline
                    {
                        thread::sleep(Duration::from_micros(200));
                    }
                }
                send(&format!("c{c} {n}"));
            }
        })
    };
    for (c, member) in tcp.drain(..).enumerate() {
        let mut writer = member.stream.try_clone().unwrap();
        senders.push(spawn_sender(
            c,
            Box::new(move |line| writer.write_all(format!("{line}\n").as_bytes()).unwrap()),
            None,
        ));
        let (coordinator, echoed, reached) = (coordinator.clone(), echoed.clone(), reached.clone());
        readers.push(thread::spawn(move || {
            let mut reader = member.reader;
            let mut line = String::new();
            let mut seen = Seen::new(c == 0);
            let mut next = vec![0; CLIENTS];
            let mut started = c == 0;
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) => panic!("tcp member {c} was closed"),
                    Ok(_) => {}
                    Err(e) => panic!("tcp member {c}: {e}"),
                }
                let text = line.trim_end();
                if !started {
                    started = is_start(text, &coordinator);
                    continue;
                }
                if !seen.take(text, &coordinator, &mut next) {
                    break;
                }
                echoed[c].store(next[c], Ordering::Release);
                if c == 1 {
                    for (r, n) in reached.iter().zip(&next) {
                        r.store(*n, Ordering::Release);
                    }
                }
            }
            seen
        }));
    }
    for (i, member) in ws.into_iter().enumerate() {
        let c = TCP + i;
        let (mut reader, writer) = member.socket.split();
        senders.push(spawn_sender(
            c,
            Box::new(move |line| writer.send(Message::Text(line.to_string())).unwrap()),
            None,
        ));
        let (coordinator, echoed) = (coordinator.clone(), echoed.clone());
        readers.push(thread::spawn(move || {
            let next_text = || loop {
                match reader.read() {
                    Ok(Message::Text(text)) => return text,
                    Ok(_) => continue,
                    Err(e) => panic!("websocket member {c}: {e}"),
                }
            };
            record(c, &coordinator, &echoed, next_text)
        }));
    }
    for (i, mut member) in polling.into_iter().enumerate() {
        let c = TCP + WS + i;
        // The sender POSTs on a connection of its own; the reader holds the GETs (and answers
        // pings on its member's POST connection).
        let (mut post, target) = (HttpClient::connect(web), member.target());
        senders.push(spawn_sender(
            c,
            Box::new(move |line| {
                let event = format!("42[\"chat message\",{}]", Json::from(line));
                let reply = post.request("POST", &target, event.as_bytes());
                assert_eq!(reply.text(), "ok");
            }),
            None,
        ));
        let (coordinator, echoed) = (coordinator.clone(), echoed.clone());
        readers.push(thread::spawn(move || {
            record(c, &coordinator, &echoed, || member.line())
        }));
    }
    for (i, member) in udp.into_iter().enumerate() {
        let c = RELIABLE + i;
        let socket = member.socket.try_clone().unwrap();
        senders.push(spawn_sender(
            c,
            Box::new(move |line| {
                socket.send(line.as_bytes()).unwrap();
            }),
            Some(UDP_WINDOW),
        ));
        let (coordinator, echoed, udp_end) = (coordinator.clone(), echoed.clone(), udp_end.clone());
        readers.push(thread::spawn(move || {
            let socket = member.socket;
            socket
                .set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = vec![0u8; 65_536];
            let mut seen = Seen::new(true);
            let mut next = vec![0; CLIENTS];
            let mut started = false;
            let give_up = Instant::now() + Duration::from_secs(60);
            loop {
                let n = match socket.recv(&mut buf) {
                    Ok(n) => n,
                    // The END datagram itself may be lost: stop once it was sent.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if udp_end.load(Ordering::Acquire) || Instant::now() > give_up {
                            break;
                        }
                        continue;
                    }
                    Err(e) => panic!("udp member {c}: {e}"),
                };
                let text = std::str::from_utf8(&buf[..n]).unwrap().trim_end();
                if !started {
                    // The START datagram may be lost too: any run line also starts the record.
                    started = is_start(text, &coordinator) || text.contains(": c");
                    if !text.contains(": c") {
                        continue;
                    }
                }
                if !seen.take(text, &coordinator, &mut next) {
                    break;
                }
                echoed[c].store(next[c], Ordering::Release);
            }
            seen
        }));
    }

    // Others come and go the whole time, over every transport.
    let stop_churn = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, server_tcp, server_udp) = (
            stop_churn.clone(),
            server.tcp_addr().unwrap(),
            server.udp_addr().unwrap(),
        );
        let ws_url = format!("ws://{}/ws", server.ws_addr().unwrap());
        thread::spawn(move || {
            let mut visits = 0;
            while !stop.load(Ordering::Acquire) {
                let mut t = TcpChat::connect(server_tcp);
                t.expect_prefix("* welcome");
                t.send(&format!("visitor {visits} says hi over tcp"));
                t.send("/quit");
                assert!(t.closed());
                let mut w = plainsock::ws::client::connect(&ws_url).unwrap();
                w.send(Message::Text(format!("visitor {visits} says hi over ws")))
                    .unwrap();
                w.send(Message::Text("/quit".into())).unwrap();
                while w.read().is_ok() {}
                let u = UdpChat::connect(server_udp);
                u.send(&format!("visitor {visits} says hi over udp"));
                u.send("/quit");
                visits += 1;
            }
            visits
        })
    };

    eprintln!("soak: joined after {:?}", started.elapsed());
    go.wait();
    for sender in senders {
        sender.join().unwrap();
    }
    eprintln!("soak: sent after {:?}", started.elapsed());
    stop_churn.store(true, Ordering::Release);
    let visits = churn.join().unwrap();
    // Every TCP, WebSocket and polling line reaches the room before END is said: a line still waiting
    // in its sender's socket when END goes out would come after END, unseen. The room may be
    // well behind the senders (they only fill socket buffers), so this waits for the event, up
    // to the soak's own time limit, not for a fixed PATIENCE. (Not for UDP lines: one lost on
    // its way in never arrives.)
    let all_in = || {
        reached[..RELIABLE]
            .iter()
            .all(|r| r.load(Ordering::Acquire) == PER_CLIENT)
    };
    while !all_in() && started.elapsed() < SOAK_LIMIT {
        thread::sleep(Duration::from_millis(10));
    }
    let behind: Vec<(usize, usize)> = reached[..RELIABLE]
        .iter()
        .map(|r| r.load(Ordering::Acquire))
        .enumerate()
        .filter(|(_, n)| *n != PER_CLIENT)
        .collect();
    assert!(
        behind.is_empty(),
        "lines that never reached the room (sender, lines in): {behind:?}"
    );
    eprintln!("soak: in the room after {:?}", started.elapsed());
    control.write_all(b"END\n").unwrap();
    let seen: Vec<Seen> = readers
        .into_iter()
        .enumerate()
        .map(|(c, r)| {
            if c == RELIABLE {
                // The TCP, WebSocket and polling readers are done: END has reached the room.
                udp_end.store(true, Ordering::Release);
            }
            r.join().unwrap()
        })
        .collect();
    let elapsed = started.elapsed();

    // TCP, WebSocket and polling: every line once, in one order for all.
    let reference = &seen[0];
    for (c, s) in seen[..RELIABLE].iter().enumerate() {
        assert!(
            s.errors.is_empty(),
            "member {c}: {:?}",
            &s.errors[..s.errors.len().min(5)]
        );
        let want = RELIABLE * PER_CLIENT;
        let short: Vec<String> = s.per_sender[..RELIABLE]
            .iter()
            .enumerate()
            .filter(|(_, (got, _))| *got != PER_CLIENT)
            .map(|(from, (got, gap))| format!("from {from}: {got}, first gap at {gap:?}"))
            .collect();
        assert_eq!(
            s.count, want,
            "member {c} saw {} of {want}; short senders: {short:?}",
            s.count
        );
        assert_eq!(s.from_udp, reference.from_udp);
        assert_eq!(s.hash, reference.hash, "member {c} saw another order");
        assert_eq!(s.churn, reference.churn);
    }
    // UDP: whatever arrived, in the room's order (a subsequence of it), nothing twice.
    let mut position = vec![0usize; TOTAL];
    for (at, &line) in reference.order.iter().enumerate() {
        position[line as usize] = at;
    }
    let mut lost = 0;
    for (i, s) in seen[RELIABLE..].iter().enumerate() {
        assert!(
            s.errors.is_empty(),
            "udp member {i}: {:?}",
            &s.errors[..s.errors.len().min(5)]
        );
        assert!(
            s.order
                .windows(2)
                .all(|w| position[w[0] as usize] < position[w[1] as usize]),
            "udp member {i} saw lines out of the room's order"
        );
        lost += reference.count + reference.from_udp - s.count - s.from_udp;
    }
    eprintln!(
        "soak: {TOTAL} lines sent to {CLIENTS} members in {elapsed:?}; {} UDP lines lost on \
         the way in; {visits} visitors came and went ({} visitor lines); UDP members lost \
         {lost} of {} datagrams on the way out",
        UDP * PER_CLIENT - reference.from_udp,
        reference.churn,
        (reference.count + reference.from_udp) * UDP
    );
    drop(seen);
    drop(position);
    drop(control);
    assert!(server.shutdown(), "every connection thread ended");
    assert!(
        eventually(|| thread_count() <= threads_at_start),
        "threads {} > {threads_at_start} at the start",
        thread_count()
    );
    let rss = rss_kib();
    assert!(
        rss < rss_at_start + 32 * 1024,
        "RSS {} MiB, {} MiB at the start",
        rss / 1024,
        rss_at_start / 1024
    );
    assert!(elapsed < SOAK_LIMIT, "the soak took {elapsed:?}");
}
