//! TCP chat: one listening port, one socket and one thread per client ("one door, many ears").
//!
//! The accept loop ([`TcpServer`], or the chat server's) hands each connection to `serve` on its own thread.
//! That thread only reads: it cuts the byte stream into lines and gives them to the hub. The
//! hub's writer lanes write to the same socket through a shared `Arc<TcpStream>` (`&TcpStream` is
//! `Read + Write`), so a member costs one thread and one file descriptor.

use crate::config::ServerConfig;
use crate::conn::{Context, accept_loop, loopback, spawn_connection};
use crate::delivery::lanes::SHORT_WRITE;
use crate::delivery::{Farewell, Outgoing, Outlet, StreamOutlet};
use crate::http;
use crate::hub::Transport;
use crate::limits::TOO_MANY_FROM_YOU;
use crate::log::Log;
use crate::wire;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the TCP chat port answers when the room is full.
pub const SERVER_FULL: &[u8] = b"* server full\n";

/// A thread-per-connection TCP server, the plain way: one listening socket (one port), an accept
/// loop, and for every client its own socket and its own named thread running `handler`.
///
/// A line echo server and one client:
///
/// ```
/// use plainsock::tcp::TcpServer;
/// use std::io::{BufRead, BufReader, Write};
/// use std::net::TcpStream;
///
/// let server = TcpServer::start("127.0.0.1:0", |stream: TcpStream, _peer| {
///     // This client's own thread: echo each line until it closes.
///     let mut lines = BufReader::new(&stream);
///     let mut line = String::new();
///     while lines.read_line(&mut line).unwrap_or(0) > 0 {
///         let _ = (&stream).write_all(line.as_bytes());
///         line.clear();
///     }
/// })?;
///
/// let mut client = TcpStream::connect(server.local_addr())?;
/// # client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// client.write_all(b"hello\n")?;
/// let mut answer = String::new();
/// BufReader::new(&client).read_line(&mut answer)?;
/// assert_eq!(answer, "hello\n");
/// drop(client); // its thread sees the end of the stream and ends
/// server.shutdown();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Binds `addr` (port 0 picks a free port) and starts accepting.
    pub fn start<F>(addr: impl ToSocketAddrs, handler: F) -> io::Result<TcpServer>
    where
        F: Fn(TcpStream, SocketAddr) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let flag = stopping.clone();
        let accept = thread::Builder::new()
            .name("tcp-accept".into())
            .spawn(move || {
                let log = Log { quiet: false };
                accept_loop(&listener, &flag, "tcp", log, |stream, peer| {
                    let handler = handler.clone();
                    if let Err(e) =
                        spawn_connection("tcp", peer, log, move || handler(stream, peer))
                    {
                        log.line(format_args!("tcp: no thread for {peer}: {e}; refused"));
                    }
                })
            })?;
        Ok(TcpServer {
            addr,
            stopping,
            accept: Some(accept),
        })
    }

    /// The address it listens on, with the real port.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting. Connections already open go on until their clients leave.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        // accept() only returns for a connection, so make one.
        let _ = TcpStream::connect_timeout(&loopback(self.addr), Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Answers a connection the server has no room for (called on the accept thread: one short
/// write into a fresh, empty send buffer does not block).
pub(crate) fn refuse(stream: &TcpStream) {
    let _ = (&*stream).write_all(SERVER_FULL);
}

/// Serves one TCP chat member until it leaves (runs on the connection's own thread).
///
/// Cross-protocol safety: a browser can be made to open `http://HOST:7000/` (cookies
/// included), and a WebSocket client can be pointed at the wrong port. Their first line is an
/// HTTP request line, so before the connection joins the room its first line is looked at
/// ([`sniff`]): HTTP or TLS is answered with a plain `400` that says where the web page is,
/// and closed; not one header line reaches the room or its history.
///
/// Waiting costs an `nc` user nothing they notice: a person has not typed yet, so a connection
/// silent for `first_line_wait` (100 ms) joins then, and its first line is still checked when
/// it comes (an HTTP client slower than that is closed with a notice; nothing is broadcast
/// either). A browser, `curl` or a WebSocket client sends its request line at once.
pub(crate) fn serve(stream: &Arc<TcpStream>, peer: SocketAddr, ctx: &Arc<Context>) {
    let Some(_place) = ctx.per_address.try_take(peer.ip()) else {
        let _ = (&**stream).write_all(format!("* {TOO_MANY_FROM_YOU}\n").as_bytes());
        ctx.log
            .line(format_args!("tcp: {peer} refused: {TOO_MANY_FROM_YOU}"));
        return;
    };
    let Some(_slot) = ctx.slots.try_take() else {
        return refuse(stream);
    };
    // Chat lines are small and interactive: send each at once instead of waiting to fill a
    // segment (Nagle's algorithm).
    let _ = stream.set_nodelay(true);
    // Lanes write to many members: a full socket must refuse at once, not wait for its reader.
    let _ = stream.set_write_timeout(Some(SHORT_WRITE));
    let mut lines = LineReader::new(ctx.config.max_line);
    let mut next = match sniff(stream, &mut lines, &ctx.config) {
        Sniffed::Http => {
            ctx.log.line(format_args!(
                "tcp {peer}: HTTP or TLS on the chat port; answered 400"
            ));
            return answer_http(stream, ctx);
        }
        Sniffed::Silent => None,
        Sniffed::First(first) => Some(first),
    };
    let member = ctx
        .hub
        .join(Transport::Tcp, peer, Arc::new(TcpOutlet::new(stream)));
    let mut first = true;
    loop {
        let asked = Instant::now();
        let line = next
            .take()
            .unwrap_or_else(|| lines.next_line(&mut &**stream));
        match line {
            // A lane had the socket non-blocking for a moment (a member's socket has no read
            // timeout): read again; the line reader keeps what it has.
            Err(LineError::Io(e)) if wire::is_spurious(&e, asked, None) => continue,
            Ok(Some(line)) if first && is_http_or_tls(&line) => {
                ctx.log.line(format_args!(
                    "tcp {peer}: HTTP or TLS on the chat port after the welcome; closed"
                ));
                member.kick(&format!("error: {}; closing", web_page_hint(stream, ctx)));
                break;
            }
            Ok(Some(line)) => match String::from_utf8(line) {
                Ok(text) if ctx.config.fault_injection && text == "/panic" => {
                    panic!("fault injection: /panic from {peer}")
                }
                Ok(text) => member.say(text),
                Err(_) => member.tell("error: that line was not UTF-8; dropped"),
            },
            // The peer sent FIN (it closed, or shut down its writing half): it left.
            Ok(None) => break,
            Err(LineError::TooLong) => {
                member.kick(&format!(
                    "error: line longer than {} bytes; closing",
                    ctx.config.max_line
                ));
                break;
            }
            Err(LineError::Io(_)) => break,
        }
        first = false;
    }
}

/// What a new connection sent before it joined.
enum Sniffed {
    /// An HTTP request line or a TLS record: not a chat client.
    Http,
    /// Nothing within `first_line_wait` (or only part of a line within the handshake
    /// timeout; the part waits in the line reader).
    Silent,
    /// Its first line, or why there is none: handled as the member's first input.
    First(Result<Option<Vec<u8>>, LineError>),
}

/// Looks at what a new connection sends at once, without joining it to the room. If bytes
/// come within `first_line_wait`, its whole first line is read (within the handshake timeout,
/// as an HTTP head would be) before deciding; a silent connection is not kept waiting longer.
fn sniff(stream: &TcpStream, lines: &mut LineReader, config: &ServerConfig) -> Sniffed {
    let wait = Some(config.first_line_wait).filter(|w| !w.is_zero());
    if wait.is_none() || stream.set_read_timeout(wait).is_err() {
        return Sniffed::Silent;
    }
    let mut first = [0u8; 1];
    let sniffed = match stream.peek(&mut first) {
        // No need to wait for the end of a line that may never come.
        Ok(1) if http::is_tls_start(first[0]) => Sniffed::Http,
        Ok(1) => {
            let deadline = Instant::now() + config.handshake_timeout;
            let mut before_deadline = Deadline(stream, deadline);
            match lines.next_line(&mut before_deadline) {
                Ok(Some(line)) if is_http_or_tls(&line) => Sniffed::Http,
                Err(LineError::Io(e)) if http::is_timeout(&e) => Sniffed::Silent,
                other => Sniffed::First(other),
            }
        }
        // Nothing yet, the end of the stream, or an error: the chat loop sees them again.
        _ => Sniffed::Silent,
    };
    // A member waits for lines as long as it likes.
    let _ = stream.set_read_timeout(None);
    sniffed
}

/// A first line no chat client sends: an HTTP request line, or the start of a TLS record.
fn is_http_or_tls(line: &[u8]) -> bool {
    http::is_request_line(line) || line.first().copied().is_some_and(http::is_tls_start)
}

/// Reads that give up at a deadline: the read timeout is what is left before it.
struct Deadline<'a>(&'a TcpStream, Instant);

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.1.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.0.set_read_timeout(Some(left))?;
        (&mut &*self.0).read(buf)
    }
}

/// The answer to HTTP on the chat port: a minimal `400` that browsers and `curl` show, then a
/// close that lets them read it (the rest of the request is drained unread).
fn answer_http(stream: &TcpStream, ctx: &Context) {
    let body = format!("{}\n", web_page_hint(stream, ctx));
    let text = [("Content-Type", "text/plain; charset=utf-8")];
    let _ = http::write_response(&mut &*stream, 400, &text, body.as_bytes());
    http::close_after_response(stream);
}

/// `this is the TCP chat port; the web page is at http://HOST:WSPORT/`, with the address the
/// client reached this port at when the web listener listens on every address.
fn web_page_hint(stream: &TcpStream, ctx: &Context) -> String {
    let Some(web) = ctx.ws_addr else {
        return "this is the TCP chat port (a line protocol, for nc); this server has no web page"
            .to_string();
    };
    let ip = match stream.local_addr() {
        Ok(local) if web.ip().is_unspecified() => local.ip(),
        _ => web.ip(),
    };
    format!(
        "this is the TCP chat port; the web page is at http://{}/",
        SocketAddr::new(ip, web.port())
    )
}

/// How lines reach a TCP member: each with its `\n`, written to the socket it shares with its
/// reader thread.
pub(crate) struct TcpOutlet {
    stream: Arc<TcpStream>,
    lines: StreamOutlet<Shared>,
}

impl TcpOutlet {
    fn new(stream: &Arc<TcpStream>) -> TcpOutlet {
        TcpOutlet {
            stream: stream.clone(),
            lines: StreamOutlet::new(Shared(stream.clone()), Outgoing::tcp_bytes),
        }
    }
}

impl Outlet for TcpOutlet {
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        wire::without_waiting(&self.stream, || self.lines.offer_lines(lines))
    }

    fn holds_back(&self) -> bool {
        !self.lines.rest_is_empty()
    }

    fn close(&self, why: &Farewell) {
        // After the end of a line already begun, never in the middle of it; and without
        // waiting, as the socket of a member that is too slow is full.
        let _ = wire::without_waiting(&self.stream, || {
            self.lines
                .write_last(format!("{}\n", why.notice()).as_bytes());
            Ok(())
        });
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// `&TcpStream` is `Write`: a socket shared by its reader thread and the lanes.
struct Shared(Arc<TcpStream>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
pub enum LineError {
    /// No newline within the limit: the peer is not speaking a line protocol, or is hostile.
    TooLong,
    Io(io::Error),
}

/// Cuts a byte stream into lines of at most `max` bytes. TCP has no message boundaries: one
/// `read` may return half a line or ten lines, so bytes wait here until their `\n` arrives.
pub struct LineReader {
    buf: Vec<u8>,
    /// Bytes before this were searched for `\n` already (so a long line is scanned once).
    scanned: usize,
    max: usize,
    eof: bool,
}

impl LineReader {
    pub fn new(max: usize) -> LineReader {
        LineReader {
            buf: Vec::new(),
            scanned: 0,
            max,
            eof: false,
        }
    }

    /// The next line without its `\n` (or `\r\n`); `None` once the peer has closed and every
    /// line was returned. A last line without a newline is still a line.
    pub fn next_line(&mut self, r: &mut impl Read) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + at;
                if end > self.max + 1 {
                    return Err(LineError::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > self.max {
                    return Err(LineError::TooLong);
                }
                self.scanned = 0;
                return Ok(Some(line));
            }
            self.scanned = self.buf.len();
            // `max` bytes, an optional `\r`, and the `\n` still to come.
            if self.buf.len() > self.max + 1 {
                return Err(LineError::TooLong);
            }
            if self.eof {
                // A last line without its `\n` has no `\r` to make room for: `max` bytes at most,
                // like every other line.
                if self.buf.len() > self.max {
                    return Err(LineError::TooLong);
                }
                self.scanned = 0;
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            let mut chunk = [0u8; 4096];
            match r.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(LineError::Io(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `step` at a time, like a network that splits writes anywhere.
    struct Chunks<'a>(&'a [u8], usize);
    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn lines(input: &[u8], step: usize, max: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut reader = LineReader::new(max);
        let mut input = Chunks(input, step);
        let mut out = Vec::new();
        loop {
            match reader.next_line(&mut input) {
                Ok(Some(line)) => out.push(line),
                Ok(None) => return Ok(out),
                Err(e) => return Err(format!("{e:?} after {} lines", out.len())),
            }
        }
    }

    #[test]
    fn lines_come_out_whole_however_the_stream_is_cut() {
        for step in [1, 2, 3, 7, 4096] {
            let got = lines(b"hello\r\nworld\n\nlast", step, 100).unwrap();
            assert_eq!(
                got,
                vec![
                    b"hello".to_vec(),
                    b"world".to_vec(),
                    b"".to_vec(),
                    b"last".to_vec()
                ]
            );
        }
    }

    #[test]
    fn a_line_may_be_exactly_the_limit_but_not_one_byte_more() {
        let mut ok = vec![b'a'; 8];
        ok.extend_from_slice(b"\r\n");
        assert_eq!(lines(&ok, 3, 8).unwrap(), vec![vec![b'a'; 8]]);
        let mut long = vec![b'a'; 9];
        long.push(b'\n');
        for step in [1, 4096] {
            assert_eq!(lines(&long, step, 8).unwrap_err(), "TooLong after 0 lines");
        }
    }

    #[test]
    fn a_last_line_without_newline_may_not_be_one_byte_over_either() {
        for step in [1, 4096] {
            assert_eq!(
                lines(&[b'a'; 9], step, 8).unwrap_err(),
                "TooLong after 0 lines"
            );
            assert_eq!(lines(&[b'a'; 8], step, 8).unwrap(), vec![vec![b'a'; 8]]);
            // `\r` is not a line ending on its own: at EOF it counts as a byte of the line.
            let mut cr = vec![b'a'; 8];
            cr.push(b'\r');
            assert_eq!(lines(&cr, step, 8).unwrap_err(), "TooLong after 0 lines");
        }
    }

    #[test]
    fn an_endless_line_is_refused_without_reading_it_all() {
        let endless = vec![b'x'; 1 << 20];
        let mut reader = LineReader::new(8192);
        let mut input = Chunks(&endless, 4096);
        assert!(matches!(
            reader.next_line(&mut input),
            Err(LineError::TooLong)
        ));
        assert!(
            input.0.len() > endless.len() - 16 * 1024,
            "read far past the limit"
        );
    }
}
