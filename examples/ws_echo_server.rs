//! A WebSocket echo server, one thread per connection.
//!
//! Run:  cargo run --release --example ws_echo_server [ADDR]     (default 127.0.0.1:9001)
//! Talk: cargo run --example ws_client ws://127.0.0.1:9001/
//!       or, in a browser console: s = new WebSocket("ws://127.0.0.1:9001"); s.onmessage = e => console.log(e.data); s.onopen = () => s.send("hi")
//!
//! Every text or binary message comes back as it was sent (limits: 16 MiB a frame, 64 MiB a
//! message). A batch of pipelined messages is answered with one write: answers are queued
//! while more frames are already buffered, and sent together with the last one.

use plainsock::ws::{self, Config, Error, Message, WebSocket};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let listener = TcpListener::bind(&addr)?;
    println!("echoing on ws://{}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        // One thread per connection: the handshake, then the echo loop, all blocking.
        thread::spawn(
            move || match ws::server::accept(stream, &Config::default()) {
                Ok(mut socket) => {
                    if let Err(e) = echo(&mut socket) {
                        eprintln!("connection ended: {e}");
                    }
                }
                Err(e) => eprintln!("handshake failed: {e}"),
            },
        );
    }
    Ok(())
}

/// Echoes until the peer closes (`read` answers Pings and echoes the Close itself).
fn echo(socket: &mut WebSocket<TcpStream>) -> Result<(), Error> {
    loop {
        match socket.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.has_buffered_frame() {
                    socket.write(msg)?; // more is waiting: answer it all at once
                } else {
                    socket.send(msg)?; // the queue and this answer, in one write
                }
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(Message::Close(_)) | Err(Error::Closed { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}
