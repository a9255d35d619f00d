//! Delivery: how a room line reaches every member without any member slowing another.
//!
//! ```text
//!            ┌─ lane 0 ── push ─→ [outbox m0] ─ offer ─→ socket m0   (takes it: done)
//!  hub ─ line┼─ lane 1 ── push ─→ [outbox m1] ─ offer ─→ socket m1   (full: m1 is stuck)
//!            └─ …                      │
//!                                      └─→ retry thread: offers m1's outbox again later,
//!                                          evicts m1 when its oldest line is too old or
//!                                          its outbox too big
//! ```
//!
//! * [`Outgoing`]: a line encoded once for every transport, shared (`Arc`) by every outbox.
//! * [`outbox`]: each member's queue of lines not yet handed to its transport, bounded in bytes
//!   and in age. The one delivery point for every transport: a socket, or a long-polling
//!   session that has no socket between polls (it takes lines from its mailbox itself).
//! * [`lanes`]: the few writer threads. A lane hands each member what its socket takes *now*
//!   (a non-blocking write) and moves on; a member whose socket is full is left to the retry
//!   thread, so it costs the lane one short write, once.
//! * [`receipts`]: how the server learns in time that a member reads (a WebSocket member
//!   answers a Ping sent with its lines); while an answer is late its lines wait in its
//!   outbox, so one that stops reading is found out before the kernel buffers megabytes for it.

pub mod lanes;
pub mod outbox;
pub mod receipts;

use crate::chat;
use crate::wire;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// A member of the room, numbered by the hub (never reused while the server runs).
pub type MemberId = u64;

/// One line leaving the hub, encoded once for every transport, then shared by every outbox.
pub struct Outgoing {
    /// The line and its `\n`: what a TCP member receives, and a UDP member's datagram (the
    /// newline keeps `nc -u` output readable; the datagram's end already marks the message).
    wire: Box<[u8]>,
    /// The same line as one unmasked WebSocket text frame (RFC 6455 §5.6).
    ws_frame: Box<[u8]>,
    /// The line as a Socket.IO `chat message` event, made by the first Socket.IO member that
    /// needs it (most rooms have none): the packet's text (for a long poll) ...
    socketio: OnceLock<Box<str>>,
    /// ... and the Engine.IO message (`4` + that text) as a WebSocket text frame.
    socketio_frame: OnceLock<Box<[u8]>>,
}

impl Outgoing {
    pub fn new(line: String) -> Arc<Outgoing> {
        let mut ws_frame = Vec::new();
        crate::ws::frame::encode(
            true,
            crate::ws::frame::Opcode::Text,
            None,
            line.as_bytes(),
            &mut ws_frame,
        );
        let mut wire = line.into_bytes();
        wire.push(b'\n');
        Arc::new(Outgoing {
            wire: wire.into(),
            ws_frame: ws_frame.into(),
            socketio: OnceLock::new(),
            socketio_frame: OnceLock::new(),
        })
    }

    /// The line without its newline.
    pub fn line(&self) -> &str {
        // Built from a `String` plus b'\n', so this cannot fail; an empty str would only hide a bug.
        std::str::from_utf8(&self.wire[..self.wire.len() - 1]).unwrap_or_default()
    }

    /// The line followed by `\n`.
    pub fn tcp_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// The line as one datagram: the same bytes as for TCP.
    pub fn datagram(&self) -> &[u8] {
        &self.wire
    }

    /// The line as a WebSocket text frame.
    pub fn ws_frame(&self) -> &[u8] {
        &self.ws_frame
    }

    /// The line as the Socket.IO packet `2["chat message","…"]` (an EVENT on namespace `/`,
    /// the event name of Socket.IO's chat tutorial).
    pub fn socketio_event(&self) -> &str {
        // What `socketio::Packet::event` encodes, spelled out: the room sits below the
        // transports and does not use them.
        self.socketio.get_or_init(|| {
            let line = crate::json::Json::from(self.line());
            format!("2[\"{SOCKETIO_EVENT}\",{line}]").into()
        })
    }

    /// [`Self::socketio_event`] as an Engine.IO message packet (`4…`) in one WebSocket text frame.
    pub fn socketio_frame(&self) -> &[u8] {
        self.socketio_frame.get_or_init(|| {
            let text = format!("4{}", self.socketio_event());
            let mut frame = Vec::new();
            crate::ws::frame::encode(
                true,
                crate::ws::frame::Opcode::Text,
                None,
                text.as_bytes(),
                &mut frame,
            );
            frame.into()
        })
    }

    /// What the line weighs in an outbox (its bounds count these bytes).
    pub fn size(&self) -> usize {
        self.ws_frame.len()
    }
}

/// The Socket.IO event that carries chat lines, both ways (as in Socket.IO's chat tutorial).
pub const SOCKETIO_EVENT: &str = "chat message";

/// Why a member is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Farewell {
    /// The member typed `/quit`.
    Quit,
    /// Its outbox went over its bounds: it does not read (fast enough).
    TooSlow,
    /// The server is stopping.
    Shutdown,
    /// Its transport saw bad input; the text says what.
    Fault(String),
}

impl Farewell {
    /// The notice line a member gets, where its socket still takes one.
    pub fn notice(&self) -> String {
        chat::notice(match self {
            Farewell::Quit => "bye",
            Farewell::TooSlow => "error: you are not reading fast enough; disconnected",
            Farewell::Shutdown => "server shutting down",
            Farewell::Fault(why) => why,
        })
    }
}

/// How lines reach one member: its transport's writing side. Called only by the delivery
/// threads, one at a time per member.
pub trait Outlet: Send + Sync {
    /// Hands the transport as many of `lines` as it takes now, in order, waiting no longer
    /// than one short write, and returns how many it took. A line cut by a short write counts
    /// as taken: the outlet keeps its unwritten end and sends that before anything else.
    /// Fewer than offered means "full for now"; an error means the member is gone.
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize>;

    /// Does the outlet hold bytes back (the end of a cut line, a queued Pong)? Then its socket
    /// is full, even if it took every line offered.
    fn holds_back(&self) -> bool {
        false
    }

    /// Says goodbye where the socket still takes it, then closes, so the member's reader wakes;
    /// or, for a member that is too slow, may leave the connection half open, so that a client
    /// still reading gets the goodbye whole, with no reset (see [`Outlet::end`]).
    fn close(&self, why: &Farewell);
    /// Ends a connection that `close` left half open, a write timeout later.
    fn end(&self) {}

    /// A transport without a socket of its own between requests (HTTP long polling) takes its
    /// lines from its [`outbox::Mailbox`] itself: the lanes only wake it. It may change its
    /// mind once, from pulling to not (a long-polling session that upgrades to WebSocket).
    fn pulls(&self) -> bool {
        false
    }

    /// Lines were added to the outbox of a transport that [`pulls`](Outlet::pulls): wake the
    /// request waiting for them. It must not write (the caller is a lane).
    fn wake(&self) {}

    /// Has the member failed to show in time that it reads ([`receipts`])? Then it is evicted
    /// as too slow, whatever its socket still takes.
    fn overdue(&self, _now: Instant) -> bool {
        false
    }
}

/// An outlet over a byte stream: each line's bytes as `bytes_of` picks them (`tcp_bytes`,
/// `ws_frame`), and the end of a line cut by a short write, kept to go out first next time.
pub struct StreamOutlet<W> {
    inner: Mutex<StreamInner<W>>,
    bytes_of: fn(&Outgoing) -> &[u8],
}

struct StreamInner<W> {
    stream: W,
    rest: Vec<u8>,
}

impl<W: Write> StreamOutlet<W> {
    pub fn new(stream: W, bytes_of: fn(&Outgoing) -> &[u8]) -> Self {
        StreamOutlet {
            inner: Mutex::new(StreamInner {
                stream,
                rest: Vec::new(),
            }),
            bytes_of,
        }
    }

    fn lock(&self) -> MutexGuard<'_, StreamInner<W>> {
        // `rest` is only ever replaced whole: a poisoned lock still holds a good state.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Outlet::offer`] for a stream.
    pub fn offer_lines(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        let parts: Vec<&[u8]> = lines.iter().map(|l| (self.bytes_of)(l)).collect();
        let inner = &mut *self.lock();
        wire::write_now(&mut inner.stream, &mut inner.rest, &parts)
    }

    /// A last message (a goodbye), after the end of a cut line, as far as the stream takes it.
    pub fn write_last(&self, bytes: &[u8]) {
        let inner = &mut *self.lock();
        let _ = wire::write_now(&mut inner.stream, &mut inner.rest, &[bytes]);
    }

    /// Is nothing of a cut line left to send?
    pub fn rest_is_empty(&self) -> bool {
        self.lock().rest.is_empty()
    }

    /// The stream itself, under the outlet's lock (no line can be half-written meanwhile).
    pub fn with_stream<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        f(&mut self.lock().stream)
    }
}
