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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    // Set once we have sent our Close: the Close that comes back is then the server's echo of
    // ours (RFC 6455 §5.5.1), not the server ending the connection.
    let we_closed = Arc::new(AtomicBool::new(false));
    let echo = we_closed.clone();
    let printer = thread::spawn(move || {
        loop {
            match reader.read() {
                Ok(Message::Text(text)) => println!("{text}"),
                Ok(Message::Binary(bytes)) => println!("<{} binary bytes>", bytes.len()),
                // Pings are answered inside read(); nothing to show.
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(frame)) => {
                    let code = match frame {
                        Some(f) => format!("{} {}", f.code, f.reason),
                        None => "no code".to_string(),
                    };
                    if echo.load(Ordering::Acquire) {
                        eprintln!("closed: the server echoed our Close ({code})");
                    } else {
                        // read() has already echoed it; stdin still waits for a line (or Ctrl-D).
                        eprintln!("the server closed the connection ({code}); press Ctrl-D");
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
        if writer.send(Message::Text(line?)).is_err() {
            break; // the connection is over; the reader has said why
        }
    }
    // 1000 = normal closure (RFC 6455 §7.4.1); the reader sees the server's Close echo.
    we_closed.store(true, Ordering::Release);
    let _ = writer.close(1000, "bye"); // fails only if the server closed first
    printer.join().map_err(|_| "the reader thread panicked")?;
    Ok(())
}
