//! A reconnect storm: 2,000 clients reconnect within half a second (as after a server restart).
//! All of them are members within 10 s, and the members already present chat on through it.
//! In its own file: it holds 4,000 sockets and as many threads, and should not slow others.

mod common;
mod hostile;

use hostile::Witness;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

const CLIENTS: usize = 2000;
const DRAINERS: usize = 8;
/// The page's first reconnect delay is uniform in 0..0.5 s.
const JITTER: Duration = Duration::from_millis(500);

/// Reads (and drops) whatever arrives on its sockets, so that no storm client is dropped as
/// too slow while 2,000 join notices reach 2,000 members.
fn drainer(
    new: mpsc::Receiver<TcpStream>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(usize, usize)> {
    thread::spawn(move || {
        let mut streams = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        let mut closed = 0;
        while !stop.load(Ordering::Acquire) {
            streams.extend(new.try_iter());
            closed = 0;
            let mut got = 0;
            for stream in &mut streams {
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) => {
                            closed += 1;
                            break;
                        }
                        Ok(n) => got += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("a storm client's connection failed: {e}"),
                    }
                }
            }
            if got == 0 {
                thread::sleep(Duration::from_millis(5));
            }
        }
        (streams.len(), closed)
    })
}

/// The storm as our own page makes it: after a restart every page retries after a random
/// delay of up to 0.5 s (full jitter, src/chat.html), so 2,000 pages arrive within half a second,
/// four a millisecond. (2,000 SYNs in the same instant would overflow the kernel's accept queue,
/// which std's backlog of 128 caps whatever the accept loop does; the dropped ones come back
/// with the kernel's SYN retries at 1 s and 3 s. That is why the page jitters.)
#[test]
fn two_thousand_clients_at_once_all_join_and_the_room_chats_on() {
    let server = common::server(|_| {});
    let mut witness = Witness::join(&server);
    let addr = server.tcp_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut queues = Vec::new();
    let mut drainers = Vec::new();
    for _ in 0..DRAINERS {
        let (tx, rx) = mpsc::channel();
        queues.push(tx);
        drainers.push(drainer(rx, stop.clone()));
    }
    let go = Arc::new(Barrier::new(CLIENTS + 1));
    let mut rng = plainsock::rand::SplitMix64::new(0x5707);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let jitter_us = rng.below(JITTER.as_micros() as u64);
            let go = go.clone();
            let queue = queues[i % DRAINERS].clone();
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    go.wait();
                    // Pacing the attacker, not waiting for the server: the page's jitter.
                    thread::sleep(Duration::from_micros(jitter_us));
                    let started = Instant::now();
                    let stream = TcpStream::connect(addr).expect("connect in the storm");
                    let took = started.elapsed();
                    stream.set_nonblocking(true).unwrap();
                    queue.send(stream).unwrap();
                    took
                })
                .unwrap()
        })
        .collect();
    go.wait();
    let storm = Instant::now();
    // The witness keeps chatting through the storm; every round trip is timed.
    let mut slowest_round = Duration::ZERO;
    while server.member_count() < 2 + CLIENTS && storm.elapsed() < Duration::from_secs(10) {
        let round = Instant::now();
        witness.still_chatting();
        slowest_round = slowest_round.max(round.elapsed());
    }
    let all_in = storm.elapsed();
    let mut times: Vec<Duration> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    times.sort();
    let retried = times
        .iter()
        .filter(|t| **t > Duration::from_millis(900))
        .count();
    let slowest_connect = times[CLIENTS - 1];
    eprintln!(
        "storm: {} members after {all_in:?}; {retried} connects waited for a SYN retry, \
         slowest {slowest_connect:?}; slowest witness round trip {slowest_round:?}",
        server.member_count() - 2
    );
    assert_eq!(
        server.member_count(),
        2 + CLIENTS,
        "not all storm clients were members after {all_in:?}"
    );
    // A connect that took a second or more waited out a dropped SYN: the listen queue was full.
    assert!(
        slowest_connect < Duration::from_millis(900),
        "a connect took {slowest_connect:?}: the accept loop fell behind"
    );
    witness.still_chatting();

    stop.store(true, Ordering::Release);
    for drainer in drainers {
        let (held, closed) = drainer.join().unwrap();
        assert_eq!(
            closed, 0,
            "the server closed {closed} of {held} storm clients"
        );
    }
    assert!(common::eventually(|| server.member_count() == 2));
    witness.still_chatting();
}
