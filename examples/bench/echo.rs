//! Scenarios 1-4: echo over WebSocket beside echo over raw TCP, both thread-per-connection,
//! both in this process; and the masking routine beside a plain memcpy.
//!
//! Fairness: both servers are std `TcpStream`s with TCP_NODELAY, one thread per connection;
//! the raw server reads into a 64 KiB buffer (the WebSocket receiver's largest read buffer)
//! and writes back with `write_all`. Both clients have the same shape (same threads, same
//! window, same buffers recycled), so the ratio is the cost of the protocol.

use plainsock::ws::{self, Message};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The raw server's read buffer: the WebSocket receiver's largest read buffer.
const RAW_BUF: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Proto {
    Tcp,
    Ws,
}

/// Each connection's socket (to shut it down) and thread (to join it).
type Connections = Arc<Mutex<Vec<(TcpStream, JoinHandle<()>)>>>;

/// An echo server on 127.0.0.1:0, one thread per connection. Dropping it stops the accept
/// thread, shuts every connection down and joins every thread.
pub struct EchoServer {
    pub addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    conns: Connections,
}

impl EchoServer {
    pub fn start(proto: Proto) -> io::Result<EchoServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let conns: Connections = Arc::default();
        let (stop, list) = (stopping.clone(), conns.clone());
        let accept = thread::Builder::new()
            .name("echo-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    let Ok(handle) = stream.try_clone() else {
                        continue;
                    };
                    let spawned = thread::Builder::new().name("echo-conn".into()).spawn(
                        move || match proto {
                            Proto::Tcp => raw_echo(stream),
                            Proto::Ws => ws_echo(stream),
                        },
                    );
                    if let (Ok(thread), Ok(mut list)) = (spawned, list.lock()) {
                        list.push((handle, thread));
                    }
                }
            })?;
        Ok(EchoServer {
            addr,
            stopping,
            accept: Some(accept),
            conns,
        })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let conns = match self.conns.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => Vec::new(),
        };
        for (stream, thread) in conns {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

/// The raw TCP echo server: every byte straight back.
fn raw_echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; RAW_BUF];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// The WebSocket echo server (examples/ws_echo_server.rs's logic): every message straight
/// back; messages that arrived together are answered with one write.
fn ws_echo(stream: TcpStream) {
    let Ok(mut ws) = ws::server::accept(stream, &ws::Config::default()) else {
        return;
    };
    loop {
        let reply = match ws.read() {
            Ok(Message::Text(text)) => Message::Text(text),
            Ok(Message::Binary(bytes)) => Message::Binary(bytes),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return,
        };
        // More is waiting: queue this answer; else send the queue and it in one write.
        let sent = if ws.has_buffered_frame() {
            ws.write(reply)
        } else {
            ws.send(reply)
        };
        if sent.is_err() {
            return;
        }
    }
}

/// One client connection, either protocol, with the same calls.
enum Client {
    Tcp(TcpStream),
    Ws(Box<ws::WebSocket<TcpStream>>),
}

impl Client {
    fn connect(proto: Proto, addr: SocketAddr) -> io::Result<Client> {
        match proto {
            Proto::Tcp => {
                let stream = TcpStream::connect(addr)?;
                stream.set_nodelay(true)?;
                Ok(Client::Tcp(stream))
            }
            Proto::Ws => {
                let ws = ws::client::connect(&format!("ws://{addr}/"))
                    .map_err(|e| io::Error::other(e.to_string()))?;
                ws.get_ref().set_nodelay(true)?;
                Ok(Client::Ws(Box::new(ws)))
            }
        }
    }

    fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        match self {
            Client::Tcp(s) => s.write_all(payload),
            Client::Ws(ws) => ws.send(Message::Binary(payload.to_vec())).map_err(io_err),
        }
    }

    /// Reads one echoed message of `buf.len()` bytes.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Client::Tcp(s) => s.read_exact(buf),
            Client::Ws(ws) => loop {
                match ws.read().map_err(io_err)? {
                    Message::Binary(b) if b.len() == buf.len() => return Ok(()),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    _ => return Err(io::Error::other("unexpected message")),
                }
            },
        }
    }
}

fn io_err(e: ws::Error) -> io::Error {
    match e {
        ws::Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// How long each measurement runs, after how much warm-up.
#[derive(Clone, Copy)]
pub struct Timing {
    pub warmup: Duration,
    pub window: Duration,
    pub runs: usize,
}

/// Runs `measure(proto)` alternately for raw TCP and WebSocket, `runs` times each (so slow
/// drift on a shared machine hits both), and returns the medians (tcp, ws) and, to show
/// the noise, each run's ratio in words.
pub fn alternate(
    runs: usize,
    mut measure: impl FnMut(Proto) -> io::Result<f64>,
) -> io::Result<(f64, f64, String)> {
    let (mut tcp, mut ws) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        tcp.push(measure(Proto::Tcp)?);
        ws.push(measure(Proto::Ws)?);
    }
    let ratios: Vec<String> = tcp
        .iter()
        .zip(&ws)
        .map(|(t, w)| format!("{:.2}", w / t))
        .collect();
    let spread = format!("ratio of each run: {}", ratios.join(", "));
    Ok((
        crate::stats::median(&tcp),
        crate::stats::median(&ws),
        spread,
    ))
}

/// Scenarios 1-3: `conns` clients, each keeping `window` 64-byte messages in flight.
/// Returns round trips per second over the measuring window.
pub fn echo_rate(proto: Proto, conns: usize, window: usize, t: Timing) -> io::Result<f64> {
    let server = EchoServer::start(proto)?;
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicU64>> = (0..conns).map(|_| Arc::default()).collect();
    let mut clients = Vec::new();
    for counter in &counters {
        let mut client = Client::connect(proto, server.addr)?;
        let (stop, counter) = (stop.clone(), counter.clone());
        clients.push(thread::spawn(move || -> io::Result<()> {
            let payload = [b'x'; 64];
            let mut back = [0u8; 64];
            for _ in 0..window {
                client.send(&payload)?;
            }
            while !stop.load(Ordering::Relaxed) {
                client.recv(&mut back)?;
                counter.fetch_add(1, Ordering::Relaxed);
                client.send(&payload)?;
            }
            Ok(())
        }));
    }
    let total = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    thread::sleep(t.warmup);
    let (c0, t0) = (total(), Instant::now());
    thread::sleep(t.window);
    let (c1, t1) = (total(), Instant::now());
    stop.store(true, Ordering::Relaxed);
    // Clients blocked in a read are woken when the server closes their connections.
    drop(server);
    let mut failure = None;
    for client in clients {
        if let Ok(Err(e)) = client.join() {
            failure.get_or_insert(e);
        }
    }
    if c1 == c0 {
        return Err(failure.unwrap_or_else(|| io::Error::other("no round trip completed")));
    }
    Ok((c1 - c0) as f64 / (t1 - t0).as_secs_f64())
}

/// Scenario 4: one connection echoing `size`-byte messages, two in flight. A writer thread
/// sends, a reader thread reads, and the reader hands the writer one token per message back.
/// The raw client writes one fixed buffer and reads into another; the WebSocket client
/// resends the very message its reader returned (the API hands out owned buffers), so
/// neither allocates in its loop. Returns MB/s (10^6 bytes) of payload echoed.
pub fn large_rate(proto: Proto, size: usize, t: Timing) -> io::Result<f64> {
    const IN_FLIGHT: usize = 2;
    let server = EchoServer::start(proto)?;
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let (to_writer, tokens) = mpsc::channel::<Vec<u8>>();
    type Send = Box<dyn FnMut(Vec<u8>) -> io::Result<()> + std::marker::Send>;
    type Recv = Box<dyn FnMut() -> io::Result<Vec<u8>> + std::marker::Send>;
    let (mut send, mut recv): (Send, Recv) = match Client::connect(proto, server.addr)? {
        Client::Tcp(stream) => {
            let mut w = stream.try_clone()?;
            let mut r = stream;
            let data = vec![b'a'; size];
            let mut back = vec![0u8; size];
            for _ in 0..IN_FLIGHT {
                let _ = to_writer.send(Vec::new());
            }
            (
                Box::new(move |_token| w.write_all(&data)),
                Box::new(move || r.read_exact(&mut back).map(|()| Vec::new())),
            )
        }
        Client::Ws(ws) => {
            let (mut r, w) = ws.split();
            for i in 0..IN_FLIGHT {
                let _ = to_writer.send(vec![b'a' + i as u8; size]);
            }
            (
                Box::new(move |message| w.send(Message::Binary(message)).map_err(io_err)),
                Box::new(move || {
                    loop {
                        match r.read().map_err(io_err)? {
                            Message::Binary(b) if b.len() == size => return Ok(b),
                            Message::Ping(_) | Message::Pong(_) => continue,
                            _ => return Err(io::Error::other("unexpected message")),
                        }
                    }
                }),
            )
        }
    };
    let writer_stop = stop.clone();
    let writer = thread::spawn(move || -> io::Result<()> {
        while let Ok(token) = tokens.recv() {
            if writer_stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            send(token)?;
        }
        Ok(())
    });
    let count = echoed.clone();
    let reader = thread::spawn(move || -> io::Result<()> {
        loop {
            let token = recv()?;
            count.fetch_add(size as u64, Ordering::Relaxed);
            if to_writer.send(token).is_err() {
                return Ok(());
            }
        }
    });
    thread::sleep(t.warmup);
    let (b0, t0) = (echoed.load(Ordering::Relaxed), Instant::now());
    thread::sleep(t.window);
    let (b1, t1) = (echoed.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    drop(server);
    let results = [writer.join(), reader.join()];
    if b1 == b0 {
        let why = results.into_iter().find_map(|r| r.ok()?.err());
        let why = why.map_or("no message echoed in the window".into(), |e| e.to_string());
        return Err(io::Error::other(format!("{proto:?}, {size} B: {why}")));
    }
    Ok((b1 - b0) as f64 / (t1 - t0).as_secs_f64() / 1e6)
}

/// Scenario 4, masking alone: GB/s of `apply_mask` over a 1 MiB buffer, and of a plain copy
/// of the same buffer (same bytes read and written). Returns (mask, memcpy), medians of `runs`.
pub fn masking(t: Timing) -> (f64, f64) {
    const SIZE: usize = 1 << 20;
    let mut data = vec![0x5Au8; SIZE];
    let mut copy = vec![0u8; SIZE];
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let rate = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        let mut bytes = 0u64;
        while start.elapsed() < t.window / 2 {
            f();
            bytes += SIZE as u64;
        }
        bytes as f64 / start.elapsed().as_secs_f64() / 1e9
    };
    let (mut mask, mut memcpy) = (Vec::new(), Vec::new());
    for _ in 0..t.runs.max(1) {
        mask.push(rate(&mut || {
            ws::mask::apply_mask(std::hint::black_box(&mut data), key, 0)
        }));
        memcpy.push(rate(&mut || {
            std::hint::black_box(&mut copy).copy_from_slice(std::hint::black_box(&data))
        }));
    }
    (crate::stats::median(&mask), crate::stats::median(&memcpy))
}
