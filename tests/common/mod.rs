//! Helpers shared by the integration tests: a server on free ports, and chat clients whose
//! every read has a timeout, so no test can hang.
#![allow(dead_code)]

pub mod polling;
pub mod redis;

use plainsock::{Server, ServerConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// How long any single expected line may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A chat server on 127.0.0.1, every listener on a free port, logs off.
pub fn server(tune: impl FnOnce(&mut ServerConfig)) -> Server {
    let mut config = ServerConfig::ephemeral();
    tune(&mut config);
    Server::start(config).expect("server starts")
}

/// A TCP chat member, as `nc` would be.
pub struct TcpChat {
    pub stream: TcpStream,
    pub reader: BufReader<TcpStream>,
    pub nick: String,
}

impl TcpChat {
    /// Connects and reads the welcome line, which names the member's nick.
    pub fn join(server: &Server) -> TcpChat {
        let mut chat = TcpChat::connect(server.tcp_addr().expect("tcp listener"));
        let welcome = chat.line();
        chat.nick = nick_from_welcome(&welcome);
        chat
    }

    /// Connects without reading anything.
    pub fn connect(addr: SocketAddr) -> TcpChat {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        TcpChat {
            stream,
            reader,
            nick: String::new(),
        }
    }

    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// The next line, without its newline. Panics on timeout or end of stream.
    pub fn line(&mut self) -> String {
        self.try_line()
            .unwrap_or_else(|| panic!("{}: no line within {PATIENCE:?}", self.nick))
    }

    /// The next line, or None at end of stream.
    pub fn try_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => panic!("{}: read failed: {e}", self.nick),
        }
    }

    /// True once the server has closed the connection (reads until EOF, at most 10,000 lines).
    pub fn closed(&mut self) -> bool {
        for _ in 0..100_000 {
            if self.try_line().is_none() {
                return true;
            }
        }
        false
    }
}

/// A UDP chat peer, as `nc -u` would be.
pub struct UdpChat {
    pub socket: UdpSocket,
    pub nick: String,
}

impl UdpChat {
    /// Joins by sending an empty datagram and reads the welcome.
    pub fn join(server: &Server) -> UdpChat {
        let mut chat = UdpChat::connect(server.udp_addr().expect("udp socket"));
        chat.send_raw(b"");
        let welcome = chat.line();
        chat.nick = nick_from_welcome(&welcome);
        chat
    }

    pub fn connect(addr: SocketAddr) -> UdpChat {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.connect(addr).unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        UdpChat {
            socket,
            nick: String::new(),
        }
    }

    pub fn send(&self, line: &str) {
        self.send_raw(line.as_bytes());
    }

    pub fn send_raw(&self, bytes: &[u8]) {
        self.socket.send(bytes).expect("send datagram");
    }

    /// The next datagram as text. Panics on timeout.
    pub fn line(&mut self) -> String {
        let mut buf = vec![0u8; 65_536];
        let n = self
            .socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{}: no datagram: {e}", self.nick));
        let text = String::from_utf8(buf[..n].to_vec()).expect("server datagrams are UTF-8");
        // One datagram is one line; it ends with `\n` so that `nc -u` prints it as one.
        text.strip_suffix('\n')
            .unwrap_or_else(|| panic!("{}: datagram without its newline: {text:?}", self.nick))
            .to_string()
    }
}

/// `expect` and `expect_prefix` for a chat client type that has `line()` and `nick`.
macro_rules! line_expectations {
    ($($client:ty),*) => {$(
        impl $client {
            /// Reads until a line equal to `want` arrives; returns the lines skipped on the way.
            pub fn expect(&mut self, want: &str) -> Vec<String> {
                let nick = self.nick.clone();
                read_until(&nick, || self.line(), |line| line == want, want, true).1
            }

            /// Reads until a line starting with `prefix` arrives, and returns it.
            pub fn expect_prefix(&mut self, prefix: &str) -> String {
                let nick = self.nick.clone();
                let fits = |line: &str| line.starts_with(prefix);
                read_until(&nick, || self.line(), fits, prefix, false).0
            }
        }
    )*};
}

line_expectations!(TcpChat, UdpChat, WsChat, polling::PollingChat);

/// Reads lines from `next` until one `fits` (at most 100,000 lines, each within PATIENCE);
/// returns it and, if `keep`, the lines skipped on the way (a long wait keeps no memory).
/// Panics naming `who` and `what` otherwise.
fn read_until(
    who: &str,
    mut next: impl FnMut() -> String,
    fits: impl Fn(&str) -> bool,
    what: &str,
    keep: bool,
) -> (String, Vec<String>) {
    let mut skipped = Vec::new();
    let mut last = String::new();
    for _ in 0..100_000 {
        let line = next();
        if fits(&line) {
            return (line, skipped);
        }
        if keep {
            skipped.push(line.clone());
        }
        last = line;
    }
    panic!("{who}: never got {what:?}; the last line was {last:?}")
}

/// `* welcome, you are guest-7 (…)` → `guest-7`.
pub fn nick_from_welcome(line: &str) -> String {
    let rest = line
        .strip_prefix("* welcome, you are ")
        .unwrap_or_else(|| panic!("not a welcome: {line:?}"));
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Threads of this process now, from /proc/self/status.
pub fn thread_count() -> usize {
    proc_status("Threads:")
}

/// Resident memory of this process in KiB, from /proc/self/status.
pub fn rss_kib() -> usize {
    proc_status("VmRSS:")
}

/// Open file descriptors of this process now.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn proc_status(key: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Polls `check` until it holds or `PATIENCE` runs out (for counts that settle after a real
/// event, e.g. a thread that exits after its socket closed). Returns whether it held.
pub fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    check()
}

/// A WebSocket chat member, as the browser page would be.
pub struct WsChat {
    pub socket: plainsock::ws::WebSocket<TcpStream>,
    pub nick: String,
}

impl WsChat {
    pub fn join(server: &Server) -> WsChat {
        let mut chat = WsChat::connect(server);
        let welcome = chat.line();
        chat.nick = nick_from_welcome(&welcome);
        chat
    }

    pub fn connect(server: &Server) -> WsChat {
        let url = format!("ws://{}/ws", server.ws_addr().expect("ws listener"));
        let socket = plainsock::ws::client::connect(&url).expect("websocket connect");
        socket.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
        WsChat {
            socket,
            nick: String::new(),
        }
    }

    pub fn send(&mut self, line: &str) {
        self.socket
            .send(plainsock::ws::Message::Text(line.to_string()))
            .expect("send");
    }

    /// The next text message (pings are answered by the library and skipped).
    pub fn line(&mut self) -> String {
        for _ in 0..1000 {
            match self.socket.read() {
                Ok(plainsock::ws::Message::Text(text)) => return text,
                Ok(plainsock::ws::Message::Ping(_) | plainsock::ws::Message::Pong(_)) => {}
                other => panic!("{}: expected a text message, got {other:?}", self.nick),
            }
        }
        panic!("{}: only pings", self.nick)
    }

    /// Reads until the connection ends; returns the close code the server sent, if any.
    pub fn close_code(&mut self) -> Option<u16> {
        for _ in 0..100_000 {
            match self.socket.read() {
                Ok(plainsock::ws::Message::Close(frame)) => return frame.map(|f| f.code),
                Ok(_) => {}
                Err(plainsock::ws::Error::Closed { code, .. }) => return code,
                Err(e) => panic!("{}: connection failed instead of closing: {e}", self.nick),
            }
        }
        None
    }
}

/// A valid WebSocket upgrade request for `/ws`, with the RFC's sample key and `extra` headers.
pub fn upgrade_request(addr: SocketAddr, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// Lines of a child's pipe (stdout, stderr), each to be awaited with a timeout.
pub fn pipe_lines(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A WebSocket join with extra request headers (`Origin`, or `X-Forwarded-For` as a proxy adds
/// it): the member, welcomed; or, when refused, the whole answer.
pub fn ws_join_with(addr: SocketAddr, extra: &str) -> Result<WsChat, String> {
    use plainsock::ws::{Config, Role, WebSocket};
    use std::io::Read;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(upgrade_request(addr, extra).as_bytes())
        .unwrap();
    // A byte at a time, so no frame after the head is read by mistake.
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    if !head.starts_with(b"HTTP/1.1 101 ") {
        let _ = stream.read_to_end(&mut head);
        return Err(String::from_utf8_lossy(&head).into_owned());
    }
    let socket = WebSocket::from_parts(stream, Role::Client, Vec::new(), Config::default());
    let mut chat = WsChat {
        socket,
        nick: String::new(),
    };
    let welcome = chat.line();
    chat.nick = nick_from_welcome(&welcome);
    Ok(chat)
}

/// One raw HTTP exchange: sends `request`, returns the whole answer (the server closes).
pub fn http_exchange(addr: SocketAddr, request: &str) -> String {
    use std::io::Read;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
