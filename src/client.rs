//! `plainsock chat URL`: join the room from a terminal, over any transport.
//!
//! Two directions at once: this thread copies stdin lines to the server, a second thread copies
//! the room's lines to stdout. When stdin ends, the client says goodbye and waits for the
//! server's last lines.

use std::io::{self, BufRead, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Runs the client until stdin ends or the server closes. `url` is `tcp://HOST:PORT`,
/// `udp://HOST:PORT` or `ws://HOST:PORT/PATH`.
pub fn run(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("not a URL: {url} (try tcp://127.0.0.1:7000)"))?;
    match scheme {
        "tcp" => tcp(rest),
        "udp" => udp(rest),
        other => Err(format!(
            "unknown URL scheme {other}:// (use tcp://, udp:// or ws://)"
        )),
    }
}

fn tcp(addr: &str) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    // One socket, two threads: `&TcpStream` is both `Read` and `Write`.
    let stream = Arc::new(stream);
    let reader = stream.clone();
    let printer = thread::spawn(move || copy_lines(io::BufReader::new(&*reader)));
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

fn udp(addr: &str) -> Result<(), String> {
    let server = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {addr}"))?;
    let local = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(local).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // A "connected" UDP socket only remembers its peer: send() goes there and recv() takes
    // datagrams from there alone. No packet is exchanged.
    socket
        .connect(server)
        .map_err(|e| format!("cannot use {addr}: {e}"))?;
    // UDP has no "I joined": the first datagram is the join.
    socket
        .send(b"")
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let socket = Arc::new(socket);
    let receiver = socket.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; crate::udp::MAX_DATAGRAM];
        while let Ok(n) = receiver.recv(&mut buf) {
            println!("{}", String::from_utf8_lossy(&buf[..n]));
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

fn copy_lines(reader: impl BufRead) {
    let stdout = io::stdout();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}
