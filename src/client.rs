//! `plainsock chat URL`: join the room from a terminal, over any transport.
//!
//! Three threads: one copies stdin lines to the server, one copies the room's lines to stdout,
//! and the main thread waits for whichever end comes first. The connection can end at any
//! moment (the server goes away, or closes after `/quit`), and a thread blocked on stdin cannot
//! be woken, so it is the main thread that returns and ends the process, stdin read or not.
//!
//! When stdin ends, the client says goodbye and waits (for `LAST_LINES` at most) for the
//! server's last lines, its own last message among them. The exit status tells a connection
//! that was *left* (stdin ended, or `/quit`: 0) from one that was *lost* (1).

use crate::chat::{self, Input};
use crate::hub::Farewell;
use crate::url::{Scheme, Url};
use crate::ws::{self, Message};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// After stdin ends: how long the server may take to send its last lines and close.
const LAST_LINES: Duration = Duration::from_secs(2);
/// Room lines waiting for stdout; when full, the network thread waits (backpressure).
const QUEUED_LINES: usize = 1024;
/// The longest piece of a TCP line held at once (the server's lines are far shorter).
const MAX_SHOWN: u64 = 64 * 1024;

/// Runs the client until the connection ends. `url` is `tcp://HOST:PORT`, `udp://HOST:PORT`
/// or `ws://HOST:PORT/PATH`. `Err` if it could not connect or the connection was lost.
pub fn run(url: &str) -> Result<(), String> {
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

/// What the main thread waits for.
enum Event {
    /// A room line, for stdout.
    Line(String),
    /// The connection is over; how, in words (`connection closed: …`).
    Closed(String),
    /// Stdin ended and the goodbye is said: the last lines are on their way.
    StdinEnded,
}

/// A transport's three parts, each run on its own thread by [`converse`].
struct Link<R, S, G> {
    /// Reads the server's lines into `Event::Line`, ending with one `Event::Closed`.
    receive: R,
    /// Sends one typed line.
    send: S,
    /// Says goodbye once stdin has ended.
    goodbye: G,
}

fn converse<R, S, G>(link: Link<R, S, G>) -> Result<(), String>
where
    R: FnOnce(&Sender<Event>) + Send + 'static,
    S: FnMut(&str) -> io::Result<()> + Send + 'static,
    G: FnOnce() + Send + 'static,
{
    let Link {
        receive,
        mut send,
        goodbye,
    } = link;
    let (events, inbox) = crossbeam_channel::bounded(QUEUED_LINES);
    let network = events.clone();
    thread::spawn(move || receive(&network));
    // Set before the goodbye or a /quit goes out, so the close that answers it counts as left.
    let leaving = Arc::new(AtomicBool::new(false));
    let left = leaving.clone();
    thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if chat::parse_line(&line) == Input::Quit {
                leaving.store(true, Ordering::Release);
            }
            if let Err(e) = send(&line) {
                let _ = events.send(Event::Closed(format!("connection closed: {e}")));
                return;
            }
        }
        leaving.store(true, Ordering::Release);
        goodbye();
        let _ = events.send(Event::StdinEnded);
    });
    let how = wait_for_the_end(&inbox);
    if left.load(Ordering::Acquire) {
        eprintln!("{how}");
        Ok(())
    } else {
        Err(how)
    }
}

/// Prints room lines until the connection closes, or until `LAST_LINES` after stdin ended;
/// returns how it ended.
fn wait_for_the_end(inbox: &Receiver<Event>) -> String {
    let mut deadline = None;
    loop {
        let event = match deadline {
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => inbox.recv_deadline(deadline),
        };
        match event {
            Ok(Event::Line(line)) => {
                if !print_line(&line) {
                    return "stdout closed".to_string();
                }
            }
            Ok(Event::Closed(how)) => return how,
            Ok(Event::StdinEnded) => deadline = Some(Instant::now() + LAST_LINES),
            Err(RecvTimeoutError::Timeout) => {
                return format!(
                    "connection closed (the server did not close within {} s)",
                    LAST_LINES.as_secs()
                );
            }
            Err(RecvTimeoutError::Disconnected) => return "connection closed".to_string(),
        }
    }
}

fn tcp(stream: TcpStream) -> Result<(), String> {
    // One socket, three threads: `&TcpStream` is both `Read` and `Write`.
    let stream = Arc::new(stream);
    let (reader, writer, closer) = (stream.clone(), stream.clone(), stream);
    converse(Link {
        receive: move |events: &Sender<Event>| {
            let mut lines = io::BufReader::new(&*reader);
            let mut line = Vec::new();
            let how = loop {
                line.clear();
                // A line longer than the bound is printed in pieces rather than held whole.
                match (&mut lines).take(MAX_SHOWN).read_until(b'\n', &mut line) {
                    // read() returned 0: the server's FIN.
                    Ok(0) => break "connection closed".to_string(),
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\r', '\n']).to_string();
                        if events.send(Event::Line(text)).is_err() {
                            return;
                        }
                    }
                    Err(e) => break format!("connection closed: {e}"),
                }
            };
            let _ = events.send(Event::Closed(how));
        },
        send: move |line: &str| (&*writer).write_all(format!("{line}\n").as_bytes()),
        // FIN: "I have nothing more to say"; the server's last lines still arrive.
        goodbye: move || {
            let _ = closer.shutdown(Shutdown::Write);
        },
    })
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
    let (receiver, sender, closer) = (socket.clone(), socket.clone(), socket);
    converse(Link {
        receive: move |events: &Sender<Event>| {
            // UDP has no FIN: the server's goodbye is its farewell notice, and a server that is
            // gone shows only as an ICMP "port unreachable" (ECONNREFUSED) after a send.
            let bye = Farewell::Quit.notice();
            let shutdown = Farewell::Shutdown.notice();
            let mut buf = vec![0u8; crate::udp::MAX_DATAGRAM];
            loop {
                let n = match receiver.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = events.send(Event::Closed(format!("connection closed: {e}")));
                        return;
                    }
                };
                let datagram = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
                let line = datagram.trim_end_matches('\n').to_string();
                let end = match line.as_str() {
                    l if l == bye => Some("connection closed"),
                    l if l == shutdown => Some("connection closed: the server is shutting down"),
                    _ => None,
                };
                if events.send(Event::Line(line)).is_err() {
                    return;
                }
                if let Some(how) = end {
                    let _ = events.send(Event::Closed(how.to_string()));
                    return;
                }
            }
        },
        send: move |line: &str| sender.send(line.as_bytes()).map(drop),
        // Nor a FIN to say goodbye with: /quit, which the server answers with its bye.
        goodbye: move || {
            let _ = closer.send(b"/quit");
        },
    })
}

fn websocket(url: &str) -> Result<(), String> {
    let socket = ws::client::connect(url).map_err(|e| format!("cannot join {url}: {e}"))?;
    let (mut reader, writer) = socket.split();
    let closer = writer.clone();
    converse(Link {
        receive: move |events: &Sender<Event>| {
            // Text messages are the room's lines; the library answers pings and the close.
            let how = loop {
                match reader.read() {
                    Ok(Message::Text(line)) => {
                        if events.send(Event::Line(line)).is_err() {
                            return;
                        }
                    }
                    Ok(Message::Close(Some(frame))) => {
                        break closed(Some(frame.code), &frame.reason);
                    }
                    Ok(Message::Close(None)) => break closed(None, ""),
                    Ok(_) => {}
                    Err(ws::Error::Closed { code, reason }) => break closed(code, &reason),
                    Err(e) => break format!("connection closed: {e}"),
                }
            };
            let _ = events.send(Event::Closed(how));
        },
        send: move |line: &str| {
            let sent = writer.send(Message::Text(line.to_string()));
            sent.map_err(|e| io::Error::other(e.to_string()))
        },
        // Not a Close frame: the server would answer it at once, perhaps before the room has
        // sent our last lines back. /quit comes after them in the room's one order; the
        // server then says bye and closes (1000), and the library echoes its Close.
        goodbye: move || {
            let _ = closer.send(Message::Text("/quit".to_string()));
        },
    })
}

/// `connection closed: 1001 server shutting down`, as the server's Close frame had it.
fn closed(code: Option<u16>, reason: &str) -> String {
    match (code, reason) {
        (Some(code), "") => format!("connection closed: {code}"),
        (Some(code), reason) => format!("connection closed: {code} {reason}"),
        (None, _) => "connection closed without a close code".to_string(),
    }
}

/// Prints one room line; false once stdout is gone.
fn print_line(line: &str) -> bool {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
}
