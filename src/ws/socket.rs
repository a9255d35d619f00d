//! A WebSocket over any blocking stream, and its two halves for a
//! reader thread and many writer threads.

use std::any::Any;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::error::Error;
use super::message::{CloseFrame, Message};
use super::receiver::Receiver;
use super::sender::Sender;
use super::{Config, Role};
use crate::http;

/// One WebSocket connection after the opening handshake.
///
/// It works over any blocking `Read + Write`, so here over bytes in memory: the server reads
/// the RFC's masked "Hello" (passed as bytes read past the handshake) and answers unmasked.
///
/// ```
/// use plainsock::ws::{Config, Message, Role, WebSocket};
/// use std::io::Cursor;
///
/// // RFC 6455 §5.7: a single-frame masked text message, "Hello".
/// let hello = vec![0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// let mut ws = WebSocket::from_parts(Cursor::new(Vec::new()), Role::Server, hello, Config::default());
/// assert_eq!(ws.read()?, Message::Text("Hello".into()));
/// ws.send(Message::Text("Hi".into()))?;
/// // What went to the peer: one frame, FIN + text, 2 bytes, not masked (RFC 6455 §5.1).
/// assert_eq!(ws.get_ref().get_ref(), &[0x81, 0x02, b'H', b'i']);
/// # Ok::<(), plainsock::ws::Error>(())
/// ```
pub struct WebSocket<S> {
    stream: S,
    receiver: Receiver,
    sender: Sender,
    state: ReadState,
}

impl<S: Read + Write + 'static> WebSocket<S> {
    /// Wraps a stream whose opening handshake is done. `leftover` holds bytes
    /// read past the HTTP head: they are the first frame bytes.
    pub fn from_parts(stream: S, role: Role, leftover: Vec<u8>, config: Config) -> Self {
        WebSocket {
            stream,
            receiver: Receiver::new(role, &config, leftover),
            sender: Sender::new(role),
            state: ReadState::Open,
        }
    }

    /// Reads the next message. Pings are answered with a Pong (RFC 6455 §5.5.2)
    /// and a Close is echoed (§5.5.1) before they are returned. Queued frames
    /// (`write`) are flushed before this blocks for network bytes, so a peer
    /// waiting for our answers never waits forever.
    ///
    /// After a Close: `Err(Error::Closed)` with the peer's code and reason.
    /// When the peer breaks a rule or a limit, we fail the connection: our Close goes out,
    /// then FIN, and over TCP the peer's remaining input is read and dropped (within
    /// [`FAIL_LINGER`]) so it reads our code; then `Err(Error::Protocol)`, and again, at once,
    /// on every later call.
    pub fn read(&mut self) -> Result<Message, Error> {
        self.state.check()?;
        let sender = &mut self.sender;
        let mut flush_first = |stream: &mut S| {
            if sender.has_queued() {
                sender.flush(stream)?;
            }
            Ok(())
        };
        let result = self.receiver.read(&mut self.stream, &mut flush_first);
        let mut replies = DirectReplies {
            stream: &mut self.stream,
            sender: &mut self.sender,
        };
        react(result, &mut self.state, &mut replies)
    }

    /// Queues a message; it goes out with the next `flush`, `send` or blocking `read`.
    pub fn write(&mut self, msg: Message) -> Result<(), Error> {
        self.sender.queue(&msg)
    }

    /// Writes everything queued, with one system call when the kernel takes it all.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.sender.flush(&mut self.stream).map_err(Error::Io)
    }

    /// Sends a message now (with anything queued before it).
    pub fn send(&mut self, msg: Message) -> Result<(), Error> {
        self.sender.send(&mut self.stream, &msg)
    }

    /// Starts the close handshake (RFC 6455 §7.1.2): sends Close with `code`
    /// and `reason` (cut to fit 123 bytes). Keep reading until the peer's
    /// Close arrives (`Message::Close`); nothing can be sent any more.
    pub fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(close_message(code, reason))
    }

    /// Is a whole frame already buffered, decodable without a system call?
    /// An echo loop can answer a pipelined batch with one write:
    /// `write` each answer and `flush` when this is false.
    pub fn has_buffered_frame(&self) -> bool {
        self.receiver.has_buffered_frame()
    }

    /// Bytes of buffer this connection holds right now (read, message and out buffers).
    pub fn memory_usage(&self) -> usize {
        self.receiver.memory_usage() + self.sender.memory_usage()
    }

    pub fn role(&self) -> Role {
        self.sender.role()
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

impl WebSocket<TcpStream> {
    /// Splits into a reader (one thread) and a writer (cloned into any number
    /// of threads). Both share one socket; frames are never interleaved,
    /// because every write, including the reader's Pong and Close replies,
    /// goes through the writer's lock. Frames still queued by `write` go out
    /// with the writer's next send.
    pub fn split(self) -> (WsReader, WsWriter) {
        halves(
            Arc::new(self.stream),
            self.receiver,
            self.sender,
            self.state,
        )
    }
}

/// The two halves straight from a handshake, over a socket that is already shared (e.g. with a
/// registry that shuts every socket down when the server stops). `leftover` as in `from_parts`.
pub fn split_shared(
    stream: Arc<TcpStream>,
    role: Role,
    leftover: Vec<u8>,
    config: Config,
) -> (WsReader, WsWriter) {
    let receiver = Receiver::new(role, &config, leftover);
    halves(stream, receiver, Sender::new(role), ReadState::Open)
}

fn halves(
    stream: Arc<TcpStream>,
    receiver: Receiver,
    sender: Sender,
    state: ReadState,
) -> (WsReader, WsWriter) {
    let writer = WsWriter {
        sender: Arc::new(Mutex::new(sender)),
        stream: Arc::clone(&stream),
    };
    let reader = WsReader {
        stream,
        receiver,
        writer: writer.clone(),
        state,
    };
    (reader, writer)
}

impl<S> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.sender.role())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The reading half of a split `WebSocket<TcpStream>`.
pub struct WsReader {
    stream: Arc<TcpStream>,
    receiver: Receiver,
    writer: WsWriter,
    state: ReadState,
}

impl WsReader {
    /// Like `WebSocket::read`; the Pong and Close replies go through the writer.
    pub fn read(&mut self) -> Result<Message, Error> {
        self.state.check()?;
        let result = self.receiver.read(&mut &*self.stream, &mut |_| Ok(()));
        react(result, &mut self.state, &mut &self.writer)
    }

    pub fn has_buffered_frame(&self) -> bool {
        self.receiver.has_buffered_frame()
    }

    pub fn memory_usage(&self) -> usize {
        self.receiver.memory_usage()
    }

    /// The writer this reader replies through.
    pub fn writer(&self) -> &WsWriter {
        &self.writer
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl fmt::Debug for WsReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReader")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The writing half of a split `WebSocket<TcpStream>`: cheap to clone, safe
/// to use from many threads. Each call writes whole frames under one lock.
#[derive(Clone)]
pub struct WsWriter {
    sender: Arc<Mutex<Sender>>,
    stream: Arc<TcpStream>,
}

impl WsWriter {
    fn lock(&self) -> MutexGuard<'_, Sender> {
        // A panic in another writer cannot leave a half-written frame queued
        // in a way we could repair; carry on with what is there.
        self.sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn send(&self, msg: Message) -> Result<(), Error> {
        self.lock().send(&mut &*self.stream, &msg)
    }

    /// Sends bytes that are already whole unmasked frames, made once with
    /// `frame::encode` and shared by many connections (a chat broadcast).
    /// Server side only: client frames must be masked per frame.
    pub fn send_prepared(&self, frames: &[u8]) -> Result<(), Error> {
        self.lock().send_prepared(&mut &*self.stream, &[frames])
    }

    /// Like `send_prepared` for several buffers at once: one vectored write, no copying them
    /// together first (a chat member that missed a few broadcasts gets them in one call).
    pub fn send_prepared_all(&self, frames: &[&[u8]]) -> Result<(), Error> {
        self.lock().send_prepared(&mut &*self.stream, frames)
    }

    /// Like `send_prepared_all`, for a writer that serves many sockets and must not wait on
    /// one (give the socket a tiny write timeout): hands over as many of `frames` as the
    /// socket takes now and returns how many. A frame cut by a short write counts as taken:
    /// its rest is queued and goes out before any other frame, so no frame is ever torn.
    pub fn send_prepared_now(&self, frames: &[&[u8]]) -> Result<usize, Error> {
        self.lock().send_prepared_now(&mut &*self.stream, frames)
    }

    /// Bytes queued and not yet written: the rest of a frame a full socket cut, or a reply.
    pub fn queued(&self) -> usize {
        self.lock().queued()
    }

    /// Starts the close handshake, as `WebSocket::close`.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.send(close_message(code, reason))
    }

    /// Shuts the TCP connection down both ways; the reader sees the end of the stream.
    pub fn shutdown(&self) -> Result<(), Error> {
        match self.stream.shutdown(Shutdown::Both) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Err(Error::Io(e)),
            _ => Ok(()),
        }
    }

    pub fn role(&self) -> Role {
        self.lock().role()
    }

    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl fmt::Debug for WsWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsWriter").finish_non_exhaustive()
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

/// What reading can still return.
#[derive(Debug)]
enum ReadState {
    Open,
    /// The peer's Close arrived, or the stream ended.
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// We failed the connection (RFC 6455 §7.1.7).
    Failed {
        code: u16,
        reason: &'static str,
    },
}

impl ReadState {
    fn check(&self) -> Result<(), Error> {
        match self {
            ReadState::Open => Ok(()),
            ReadState::Closed { code, reason } => Err(Error::Closed {
                code: *code,
                reason: reason.clone(),
            }),
            ReadState::Failed { code, reason } => Err(Error::Protocol {
                code: *code,
                reason,
            }),
        }
    }
}

/// The writes that reading a frame can require.
/// Bytes of replies that may wait for a full socket before the peer counts as not reading.
const PONG_BACKLOG: usize = 16 * 1024;

trait Replies {
    fn role(&self) -> Role;
    /// Bytes queued and not yet written.
    fn queued(&self) -> usize;
    /// RFC 6455 §5.5.2: answer a Ping with a Pong of the same payload.
    fn pong(&mut self, payload: &[u8]) -> Result<(), Error>;
    /// RFC 6455 §5.5.1: echo a Close we did not start.
    fn close(&mut self, frame: Option<CloseFrame>);
    /// RFC 6455 §7.1.1 / §7.1.7: the TCP connection is over
    /// (`Shutdown::Write`: we still let the peer read our Close).
    fn shutdown(&mut self, how: Shutdown);
    /// After failing the connection: read and drop what the peer still sends (see
    /// [`FAIL_LINGER`]), so it reads our Close code instead of a reset.
    fn drain(&mut self);
}

/// How long, and how many bytes, a failed connection keeps reading after its Close.
///
/// A peer still sending (the rest of a message over the limit) while we close the socket
/// would get a TCP reset, and a reset can discard our Close before the peer reads it: it
/// then reports 1006 (no close frame) instead of 1009. So, as for HTTP refusals, we read
/// on until the peer closes too, within these bounds.
pub const FAIL_LINGER: Duration = Duration::from_secs(1);
/// See [`FAIL_LINGER`]: a peer that streams more than this is cut off with a reset.
pub const FAIL_LINGER_BYTES: usize = 16 << 20;
/// See [`FAIL_LINGER`]: a peer that sends nothing for this long is no longer sending into a
/// closed socket, so closing it causes no reset; it has had time to read our Close.
pub const FAIL_LINGER_QUIET: Duration = Duration::from_millis(100);

/// Turns what the receiver read into what `read` returns, doing the replies.
fn react(
    result: Result<Message, Error>,
    state: &mut ReadState,
    replies: &mut impl Replies,
) -> Result<Message, Error> {
    match result {
        Ok(Message::Ping(payload)) => {
            match replies.pong(&payload) {
                // After our Close, a Ping goes unanswered (§5.5.1).
                Ok(()) | Err(Error::Closed { .. }) => {}
                // A full socket with a short write timeout: the Pong stays queued and goes out
                // before the next frame; but a peer that pings and never reads is not kept.
                Err(Error::Io(e)) if crate::wire::is_full(&e) => {
                    if replies.queued() > PONG_BACKLOG {
                        return Err(Error::Io(io::Error::other(
                            "the peer sends Pings but does not read the Pongs",
                        )));
                    }
                }
                Err(e) => return Err(e),
            }
            Ok(Message::Ping(payload))
        }
        Ok(Message::Close(frame)) => {
            replies.close(frame.clone());
            *state = ReadState::Closed {
                code: frame.as_ref().map(|f| f.code),
                reason: frame.as_ref().map(|f| f.reason.clone()).unwrap_or_default(),
            };
            // §7.1.1: the server closes the TCP connection first.
            if replies.role() == Role::Server {
                replies.shutdown(Shutdown::Both);
            }
            Ok(Message::Close(frame))
        }
        Err(Error::Protocol { code, reason }) => {
            replies.close(Some(CloseFrame {
                code,
                reason: reason.to_owned(),
            }));
            replies.shutdown(Shutdown::Write);
            replies.drain();
            *state = ReadState::Failed { code, reason };
            Err(Error::Protocol { code, reason })
        }
        Err(Error::Closed { code, reason }) => {
            *state = ReadState::Closed {
                code,
                reason: reason.clone(),
            };
            Err(Error::Closed { code, reason })
        }
        other => other,
    }
}

/// Replies written straight to the stream of a whole `WebSocket`.
struct DirectReplies<'a, S> {
    stream: &'a mut S,
    sender: &'a mut Sender,
}

impl<S: Read + Write + 'static> Replies for DirectReplies<'_, S> {
    fn role(&self) -> Role {
        self.sender.role()
    }

    fn queued(&self) -> usize {
        self.sender.queued()
    }

    fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.sender
            .send(self.stream, &Message::Pong(payload.to_vec()))
    }

    fn close(&mut self, frame: Option<CloseFrame>) {
        if !self.sender.is_closed() {
            // The peer may be gone already; the close still counts.
            let _ = self.sender.send(self.stream, &Message::Close(frame));
        }
    }

    fn shutdown(&mut self, how: Shutdown) {
        // Only a TCP stream can be shut down; other streams end when dropped.
        if let Some(tcp) = as_tcp(self.stream) {
            let _ = tcp.shutdown(how);
        }
    }

    fn drain(&mut self) {
        // Other streams (in-memory ones in tests) have no reset to avoid.
        if let Some(tcp) = as_tcp(self.stream) {
            http::drain(tcp, FAIL_LINGER, FAIL_LINGER_BYTES, FAIL_LINGER_QUIET);
        }
    }
}

fn as_tcp<S: 'static>(stream: &S) -> Option<&TcpStream> {
    let stream: &dyn Any = stream;
    stream.downcast_ref::<TcpStream>()
}

/// Replies of a `WsReader`, through the shared writer's lock.
impl Replies for &WsWriter {
    fn role(&self) -> Role {
        WsWriter::role(self)
    }

    fn queued(&self) -> usize {
        self.lock().queued()
    }

    fn pong(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send(Message::Pong(payload.to_vec()))
    }

    fn close(&mut self, frame: Option<CloseFrame>) {
        let mut sender = self.lock();
        if !sender.is_closed() {
            let _ = sender.send(&mut &*self.stream, &Message::Close(frame));
        }
    }

    fn shutdown(&mut self, how: Shutdown) {
        let _ = self.stream.shutdown(how);
    }

    fn drain(&mut self) {
        http::drain(
            &self.stream,
            FAIL_LINGER,
            FAIL_LINGER_BYTES,
            FAIL_LINGER_QUIET,
        );
    }
}
