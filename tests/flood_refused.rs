//! 20,000 connection attempts against a full room (`--max-conns 1000`): each gets the
//! documented refusal, the members chat on, and no thread or descriptor is left behind.
//! Alone in its file (its own process), so the thread and descriptor counts are its own.

mod common;
mod hostile;

use common::{PATIENCE, TcpChat, eventually, fd_count, server, thread_count};
use hostile::{Witness, read_to_close, status_line};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

const MEMBERS: usize = 1000;
const ATTEMPTS: usize = 20_000;
const FLOODERS: usize = 8;

fn refused_over_tcp(addr: SocketAddr) {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "* server full\n");
    line.clear();
    assert_eq!(reader.read_line(&mut line).unwrap(), 0, "closed after it");
}

fn refused_over_ws(addr: SocketAddr) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let request = crate::common::upgrade_request(addr, "");
    stream.write_all(request.as_bytes()).unwrap();
    let answer = read_to_close(&mut stream);
    assert_eq!(
        status_line(&answer),
        "HTTP/1.1 503 Service Unavailable",
        "{answer}"
    );
}

#[test]
fn twenty_thousand_attempts_on_a_full_room_are_refused_without_leaks() {
    let threads_at_start = thread_count();
    let fds_at_start = fd_count();
    let server = server(|c| c.max_conns = MEMBERS);
    let mut witness = Witness::join(&server);
    let members: Vec<TcpChat> = (2..MEMBERS).map(|_| TcpChat::join(&server)).collect();
    assert_eq!(server.member_count(), MEMBERS);
    let threads_full = thread_count();
    let fds_full = fd_count();

    let (tcp, ws) = (server.tcp_addr().unwrap(), server.ws_addr().unwrap());
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|f| {
            std::thread::spawn(move || {
                for i in 0..ATTEMPTS / FLOODERS {
                    if (i + f) % 2 == 0 {
                        refused_over_tcp(tcp);
                    } else {
                        refused_over_ws(ws);
                    }
                }
            })
        })
        .collect();
    // The members chat while the flood goes on.
    witness.still_chatting();
    for flooder in flooders {
        flooder.join().unwrap();
    }
    witness.still_chatting();
    assert_eq!(server.member_count(), MEMBERS);
    assert!(
        eventually(|| thread_count() == threads_full && fd_count() == fds_full),
        "threads {} (want {threads_full}), descriptors {} (want {fds_full})",
        thread_count(),
        fd_count()
    );

    drop(members);
    drop(witness);
    assert!(server.shutdown());
    assert!(
        eventually(|| thread_count() <= threads_at_start && fd_count() <= fds_at_start),
        "threads {} (start {threads_at_start}), descriptors {} (start {fds_at_start})",
        thread_count(),
        fd_count()
    );
}
