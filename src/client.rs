//! `plainsock chat URL`: join the room from a terminal, over any transport.
//!
//! Two directions at once: this thread copies stdin lines to the server, a second thread copies
//! the room's lines to stdout. When stdin ends, the client says goodbye and waits for the
//! server's last lines.

use crate::url::{Scheme, Url};
use crate::ws::{self, Message};
use std::io::{self, BufRead, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Runs the client until stdin ends or the server closes. `url` is `tcp://HOST:PORT`,
/// `udp://HOST:PORT` or `ws://HOST:PORT/PATH`.
pub fn run(url: &str) -> Result<(), String> {
    if let Some(why) = no_tls(url) {
        return Err(why);
    }
    let parsed = Url::parse(url).map_err(|e| e.to_string())?;
    let addr = (parsed.host.as_str(), parsed.port);
    match parsed.scheme {
        Scheme::Tcp => {
            tcp(TcpStream::connect(addr).map_err(|e| format!("cannot connect to {url}: {e}"))?)
        }
        Scheme::Udp => udp(&parsed),
        Scheme::Ws => websocket(url),
    }
}

fn tcp(stream: TcpStream) -> Result<(), String> {
    // One socket, two threads: `&TcpStream` is both `Read` and `Write`.
    let stream = Arc::new(stream);
    let reader = stream.clone();
    let printer = thread::spawn(move || {
        for line in io::BufReader::new(&*reader).lines() {
            let Ok(line) = line else { break };
            if !print_line(&line) {
                break;
            }
        }
    });
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if (&*stream)
            .write_all(format!("{line}\n").as_bytes())
            .is_err()
        {
            break;
        }
    }
    // FIN: "I have nothing more to say"; the server's last lines still arrive.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = printer.join();
    Ok(())
}

fn udp(url: &Url) -> Result<(), String> {
    let local = if url.host.contains(':') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // A "connected" UDP socket only remembers its peer: send() goes there and recv() takes
    // datagrams from there alone. No packet is exchanged.
    socket
        .connect((url.host.as_str(), url.port))
        .map_err(|e| format!("cannot use {}: {e}", url.host_header()))?;
    // UDP has no "I joined": the first datagram is the join.
    socket
        .send(b"")
        .map_err(|e| format!("cannot send to {}: {e}", url.host_header()))?;
    let socket = Arc::new(socket);
    let receiver = socket.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; crate::udp::MAX_DATAGRAM];
        while let Ok(n) = receiver.recv(&mut buf) {
            let datagram = String::from_utf8_lossy(&buf[..n]);
            if !print_line(datagram.trim_end_matches('\n')) {
                break;
            }
        }
    });
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if socket.send(line.as_bytes()).is_err() {
            break;
        }
    }
    // UDP has no FIN either: say /quit, and give the goodbye a moment to arrive.
    let _ = socket.send(b"/quit");
    thread::sleep(Duration::from_millis(200));
    Ok(())
}

fn websocket(url: &str) -> Result<(), String> {
    let socket = ws::client::connect(url).map_err(|e| format!("cannot join {url}: {e}"))?;
    let (mut reader, writer) = socket.split();
    let printer = thread::spawn(move || {
        // Text messages are the room's lines; the library answers pings and the close.
        while let Ok(message) = reader.read() {
            if let Message::Text(line) = message
                && !print_line(&line)
            {
                break;
            }
        }
    });
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if writer.send(Message::Text(line)).is_err() {
            break;
        }
    }
    // The closing handshake: our Close, the server's Close back, then the server closes TCP.
    let _ = writer.close(1000, "bye");
    let _ = printer.join();
    Ok(())
}

/// `wss://HOST/…`: what to do instead, in one line. This client has no TLS; behind a TLS
/// proxy the room is reached with a browser, or in plain text on the server itself.
fn no_tls(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("wss") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Some(format!(
        "TLS is not supported: plainsock chat has no TLS of its own, so it cannot open {url}. \
         Open https://{host}/ in a browser, or on the server itself join in plain text: \
         plainsock chat ws://127.0.0.1:8080/ws (or nc 127.0.0.1 7000), with the addresses \
         plainsock serve printed"
    ))
}

/// Prints one room line; false once stdout is gone.
fn print_line(line: &str) -> bool {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}
