//! TCP client: lines from stdin go to the server; whatever it sends back goes to stdout.
//!
//! Run:  cargo run --example tcp_client 127.0.0.1:7100     (against tcp_echo_server)
//! Talk: nc -N -l 127.0.0.1 7100  (start this first: nc plays the server, type replies there;
//!                                Ctrl-D there sends its FIN, which ends this client — Debian's
//!                                nc sends no FIN without -N)
//!
//! Ctrl-D ends stdin: the client sends FIN, then waits for the server's FIN before exiting.

use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: tcp_client ADDR     (for example 127.0.0.1:7100)");
        std::process::exit(2);
    };
    // socket() + connect(): the kernel runs the 3-way handshake (SYN, SYN-ACK, ACK) first.
    let stream = TcpStream::connect(&addr)?;
    println!(
        "connected to {} from {}",
        stream.peer_addr()?,
        stream.local_addr()?
    );
    // `&TcpStream` is Read + Write, so two threads can share one socket: one reads, one writes.
    thread::scope(|scope| {
        let replies = thread::Builder::new()
            .name("replies".to_string())
            .spawn_scoped(scope, || print_replies(&stream))?;
        let mut line = String::new();
        // The main thread: each stdin line goes out as it is typed.
        while io::stdin().lock().read_line(&mut line)? > 0 {
            // write_all(): copies into the kernel's send buffer; TCP delivers it in order.
            (&stream).write_all(line.as_bytes())?;
            line.clear();
        }
        // shutdown(Write): sends our FIN ("nothing more from me") while we keep reading.
        stream.shutdown(Shutdown::Write)?;
        // Wait for the server's FIN (read() = 0 in the reader): the 4-way close is complete.
        match replies.join() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the reply thread panicked")),
        }
    })
    // Dropping `stream` now releases the socket.
}

/// Copies everything the server sends to stdout, until its FIN arrives.
fn print_replies(mut stream: &TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut stdout = io::stdout();
    loop {
        // read(): takes what is in the kernel's receive buffer, however it was split in transit.
        let n = stream.read(&mut buf)?;
        // 0 bytes: the server sent FIN, it will send nothing more.
        if n == 0 {
            return Ok(());
        }
        stdout.write_all(&buf[..n])?;
        stdout.flush()?;
    }
}
