//! WebSocket client: each stdin line goes out as a text message; every message received
//! is printed to stdout.
//!
//! Run:  cargo run --example ws_echo_server 127.0.0.1:9001          (first, in one terminal)
//!       cargo run --example ws_client ws://127.0.0.1:9001/         (then, in another)
//!
//! Ctrl-D ends stdin: the client sends a Close frame (RFC 6455 §5.5.1) and waits for the
//! server's Close before exiting.

use plainsock::ws::{Message, client};
use std::io::{self, BufRead};
use std::thread;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: ws_client ws://HOST:PORT/PATH     (for example ws://127.0.0.1:9001/)");
        std::process::exit(2);
    };
    // TCP connect, then the HTTP upgrade: GET with a random key, 101 with its accept value.
    let ws = client::connect(&url)?;
    eprintln!("connected to {url}");
    // One thread reads, one writes; the writer half is shared behind a lock inside.
    let (mut reader, writer) = ws.split();
    let printer = thread::spawn(move || {
        loop {
            match reader.read() {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(bytes)) => println!("<{} binary bytes>", bytes.len()),
                // Pings are answered inside read(); nothing to show.
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(frame)) => {
                    match frame {
                        Some(f) => eprintln!("server closed: {} {}", f.code, f.reason),
                        None => eprintln!("server closed"),
                    }
                    return;
                }
                Err(e) => {
                    eprintln!("connection ended: {e}");
                    return;
                }
            }
        }
    });
    for line in io::stdin().lock().lines() {
        // Client frames are masked with a fresh random key each (RFC 6455 §5.3).
        writer.send(Message::Text(line?))?;
    }
    // 1000 = normal closure (RFC 6455 §7.4.1); the reader sees the server's Close echo.
    writer.close(1000, "bye")?;
    printer.join().map_err(|_| "the reader thread panicked")?;
    Ok(())
}
