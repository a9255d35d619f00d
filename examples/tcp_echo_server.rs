//! TCP echo server: every byte a client sends comes straight back to it.
//!
//! Run:  cargo run --example tcp_echo_server [ADDR]     (ADDR defaults to 127.0.0.1:7100)
//! Talk: nc -N 127.0.0.1 7100  (type lines, see them echoed; Ctrl-D sends FIN and ends it —
//!                             Debian's nc sends no FIN without -N)
//!
//! One door, many ears: the server listens on ONE port, and the kernel hands it a NEW
//! connected socket for every client. Each of those gets its own thread here.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7100".to_string());
    // socket() + bind() + listen(): the one door; the kernel now completes handshakes for us.
    let listener = TcpListener::bind(&addr)?;
    println!("tcp echo server on {}", listener.local_addr()?);
    loop {
        // accept(): returns once a client's 3-way handshake (SYN, SYN-ACK, ACK) is already done.
        // The new socket is one of the many ears: same local port, its own peer address.
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // A client can reset while waiting in the queue: its problem, not the server's.
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        println!("{peer} connected");
        // One named thread per client: a read() blocking on one never stalls the others.
        let named = thread::Builder::new().name(format!("echo {peer}"));
        let spawned = named.spawn(move || match echo(stream) {
            Ok(()) => println!("{peer} closed"),
            Err(e) => println!("{peer} failed: {e}"),
        });
        if let Err(e) = spawned {
            eprintln!("cannot start a thread for {peer}: {e}");
        }
    }
}

/// Copies everything `stream` receives back into it, until the peer closes.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        // read(): takes what is in the kernel's receive buffer; a byte stream, not "lines".
        let n = stream.read(&mut buf)?;
        // 0 bytes means the peer's FIN arrived: it will send nothing more (4-way close begins).
        if n == 0 {
            return Ok(());
        }
        // write_all(): copies into the kernel's send buffer; blocks only while that is full.
        stream.write_all(&buf[..n])?;
    }
    // Dropping `stream` closes the socket: our FIN completes the 4-way close.
}
