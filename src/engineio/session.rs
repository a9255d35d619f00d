//! One Engine.IO session: its state, heartbeat, outgoing [`Source`], and the [`Socket`] handle
//! the application holds.

use super::packet::{Data, Packet};
use crate::wire;
use crate::ws::{Error, Message, WsWriter};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// Where a session's outgoing packets wait until a poll or the WebSocket takes them.
pub trait Source: Send + Sync {
    /// Adds `packets` (kept together, in order). `false`: no room; the session is closed.
    fn push(&self, packets: Vec<Packet>) -> bool;
    /// Moves waiting packets into `out`, oldest first: one at least, if any waits, then more
    /// while they fit in `budget` bytes.
    fn take(&self, out: &mut Vec<Packet>, budget: usize);
}

/// More packets for polls only, after the [`Source`]'s: an application that writes to the
/// session's WebSocket itself once it has one (a chat room's writer lanes, with
/// [`Socket::send_frames_now`]) keeps those packets here, where a long poll finds them.
pub trait Feed: Send + Sync {
    /// Moves waiting packets into `out`, as [`Source::take`].
    fn take(&self, out: &mut Vec<Packet>, budget: usize);
}

/// The default [`Source`]: a FIFO bounded in bytes.
pub struct Queue {
    waiting: Mutex<(VecDeque<Packet>, usize)>,
    max_bytes: usize,
}

impl Queue {
    pub fn new(max_bytes: usize) -> Queue {
        Queue {
            waiting: Mutex::new((VecDeque::new(), 0)),
            max_bytes,
        }
    }
}

/// Bytes a packet stands for in a queue's budget.
fn cost(packet: &Packet) -> usize {
    match packet {
        Packet::Message(data) => data.len() + 1,
        Packet::Open(text) | Packet::Ping(text) | Packet::Pong(text) => text.len() + 1,
        _ => 1,
    }
}

impl Source for Queue {
    fn push(&self, packets: Vec<Packet>) -> bool {
        let mut waiting = lock(&self.waiting);
        let bytes: usize = packets.iter().map(cost).sum();
        if waiting.1 + bytes > self.max_bytes {
            return false;
        }
        waiting.1 += bytes;
        waiting.0.extend(packets);
        true
    }

    fn take(&self, out: &mut Vec<Packet>, budget: usize) {
        let mut waiting = lock(&self.waiting);
        let mut taken = 0;
        while let Some(next) = waiting.0.front() {
            let c = cost(next);
            if taken > 0 && taken + c > budget {
                break;
            }
            taken += c;
            waiting.1 -= c;
            if let Some(packet) = waiting.0.pop_front() {
                out.push(packet);
            }
        }
    }
}

/// A session's receiving end in the application, one per session.
pub trait Connection: Send {
    /// A message packet from the client.
    fn message(&mut self, socket: &Socket, data: Data);
    /// The session moved from long polling to its WebSocket (the upgrade is done).
    fn upgraded(&mut self, _socket: &Socket) {}
    /// The session is over (`reason` in Engine.IO's words: "ping timeout", "transport close",
    /// "parse error", "client close", "server close" ...). Called once; no message follows.
    fn close(&mut self, socket: &Socket, reason: &str);
}

/// What an [`super::Engine`] runs its sessions with.
pub trait Handler: Send + Sync + 'static {
    /// A new session; the open packet has been sent (or is on its way in the answer to the
    /// handshake `GET`), so packets sent from here follow it.
    fn open(&self, socket: &Socket) -> Box<dyn Connection>;
    /// The new session's outgoing source.
    fn source(&self) -> Arc<dyn Source> {
        Arc::new(Queue::new(DEFAULT_QUEUE_BYTES))
    }
}

/// The default queue's bound: a client that lets this much wait is not reading.
pub const DEFAULT_QUEUE_BYTES: usize = 4 << 20;

/// How a session reaches its client now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Polling,
    WebSocket,
}

impl Transport {
    /// The name in URLs (`transport=polling`) and in the open packet's `upgrades`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::WebSocket => "websocket",
        }
    }
}

pub(super) struct State {
    pub transport: Transport,
    /// Why the session ended, once it has.
    pub closed: Option<String>,
    /// A `GET` is held open (only one may be).
    pub polling: bool,
    /// A `POST` is being read (only one may be).
    pub posting: bool,
    /// The probe succeeded on a new WebSocket; polls are answered `6` (noop) until the `5`.
    pub upgrading: bool,
    /// A probe WebSocket is open (only one may be).
    pub probing: bool,
    /// A ping waits for the next poll.
    pub ping_pending: bool,
    pub next_ping: Instant,
    /// The pong (and, in polling, the poll that carries the ping out) is due by then.
    pub pong_deadline: Option<Instant>,
    /// The application's deadline (Socket.IO's connect timeout), see [`Socket::close_at`],
    /// and the reason the session closes with then.
    pub deadline: Option<Instant>,
    pub deadline_reason: &'static str,
}

pub(super) struct Session {
    pub sid: String,
    /// Where the handshake came from (a polling client may use other connections later).
    pub peer: Option<SocketAddr>,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Most bytes one poll answer carries.
    pub budget: usize,
    pub state: Mutex<State>,
    /// Wakes a held poll: packets wait, a ping is due, an upgrade began, the session closed.
    pub changed: Condvar,
    pub source: Arc<dyn Source>,
    /// Packets for polls only, see [`Feed`].
    pub feed: Mutex<Option<Arc<dyn Feed>>>,
    /// `None` before `open` returned, and after `close`.
    pub connection: Mutex<Option<Box<dyn Connection>>>,
    /// The WebSocket, once it is the transport. Its lock keeps writes in order.
    pub ws: Mutex<Option<WsWriter>>,
    /// The thread inside [`Connection::message`] now, if any: a close it causes is handed
    /// to the application when `message` returns, not from inside it.
    pub delivering: Mutex<Option<ThreadId>>,
    /// Called once when the session ends, to forget it.
    pub forget: Box<dyn Fn(&str) + Send + Sync>,
}

/// A poisoned lock still holds consistent data here: every change under these locks is a few
/// field writes that a panic cannot interrupt halfway in a way we could repair.
pub(super) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The application's handle on a session. Cheap to clone.
#[derive(Clone)]
pub struct Socket(pub(super) Arc<Session>);

/// What the heartbeat decides for one session.
pub(super) enum Beat {
    /// Nothing to do before this instant.
    Until(Instant),
    /// Send a ping now (WebSocket), then wait until this instant for the pong.
    Ping(Instant),
    /// Close with this reason.
    Close(&'static str),
}

impl Socket {
    pub fn sid(&self) -> &str {
        &self.0.sid
    }

    /// The address the session's handshake came from.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.0.peer
    }

    pub fn transport(&self) -> Transport {
        lock(&self.0.state).transport
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.0.state).closed.is_some()
    }

    /// Sends one message packet.
    pub fn send(&self, data: Data) {
        self.send_all(vec![data]);
    }

    /// Sends messages that belong together (a Socket.IO packet and its attachments): they are
    /// queued at once, so nothing comes between them.
    pub fn send_all(&self, messages: Vec<Data>) {
        let packets = messages.into_iter().map(Packet::Message).collect();
        if self.0.source.push(packets) {
            self.wake();
        } else {
            self.close_with("too slow: outgoing queue full");
        }
    }

    /// Wakes a held poll (new packets wait for it), and does nothing else: for a thread that
    /// must not write to the WebSocket itself.
    pub fn notify(&self) {
        let _state = lock(&self.0.state);
        self.0.changed.notify_all();
    }

    /// Writes `frames` (whole unmasked WebSocket frames, e.g. made once for many sessions) to
    /// the session's WebSocket, as many as its socket takes now; see
    /// [`WsWriter::send_prepared_now`]. `Ok(0)` while the session is not on WebSocket.
    ///
    /// "Now" means non-blocking ([`wire::without_waiting`]): a full socket says so at once
    /// instead of after a kernel tick. This session's own thread reads the socket meanwhile,
    /// and takes the early "would block" it may get for the read timeout it also handles.
    pub fn send_frames_now(&self, frames: &[&[u8]]) -> io::Result<usize> {
        if self.is_closed() {
            return Err(io::ErrorKind::NotConnected.into());
        }
        let ws = lock(&self.0.ws).clone();
        match ws {
            Some(writer) => wire::without_waiting(writer.get_ref(), || {
                writer.send_prepared_now(frames).map_err(|e| match e {
                    Error::Io(e) => e,
                    other => io::Error::other(other.to_string()),
                })
            }),
            None => Ok(0),
        }
    }

    /// Bytes the WebSocket holds back (the rest of a frame a full socket cut).
    pub fn queued(&self) -> usize {
        lock(&self.0.ws).as_ref().map_or(0, WsWriter::queued)
    }

    /// Queues a message without writing it: a held poll takes it, and on WebSocket it goes
    /// out with the next write or the close (for a caller that must not write).
    pub fn send_later(&self, data: Data) {
        if self.0.source.push(vec![Packet::Message(data)]) {
            self.notify();
        }
    }

    /// Tells the session that its source holds new packets. On polling a held `GET` answers;
    /// on WebSocket this thread writes them.
    pub fn wake(&self) {
        let transport = {
            let state = lock(&self.0.state);
            self.0.changed.notify_all();
            state.transport
        };
        if transport == Transport::WebSocket {
            self.flush_ws();
        }
    }

    /// Ends the session from the server side: the client is told (`1`) where it can be.
    pub fn close(&self) {
        self.close_with("server close");
    }

    /// Closes the session at `at` unless this is called again with `None` first (Socket.IO
    /// closes a client that does not join a namespace within its connect timeout).
    pub fn close_at(&self, at: Option<Instant>) {
        let mut state = lock(&self.0.state);
        state.deadline = at;
        state.deadline_reason = "connect timeout";
    }

    /// Closes the session from the heartbeat thread, within a beat: for a caller that must not
    /// wait on the session's locks (a writer lane, while the session's reader may be waiting
    /// on the room). A held poll answers at once.
    pub fn close_soon(&self, reason: &'static str) {
        let mut state = lock(&self.0.state);
        state.deadline = Some(Instant::now());
        state.deadline_reason = reason;
        self.0.changed.notify_all();
    }

    /// Hands polls a [`Feed`] of packets besides the source's.
    pub fn set_feed(&self, feed: Arc<dyn Feed>) {
        *lock(&self.0.feed) = Some(feed);
        self.notify();
    }

    /// Ends the session, once: wakes a held poll (which answers `1`), says `1` and closes on a
    /// WebSocket, forgets the sid, and tells the application (now, or as soon as the message
    /// it is handling returns).
    pub(super) fn close_with(&self, reason: &str) {
        {
            let mut state = lock(&self.0.state);
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.to_string());
            self.0.changed.notify_all();
        }
        (self.0.forget)(&self.0.sid);
        // What waits (a goodbye) goes before the close.
        self.flush_ws();
        if let Some(ws) = lock(&self.0.ws).take() {
            let _ = ws.send(Message::Text(Packet::Close.to_text()));
            let _ = ws.close(1000, "");
            let _ = ws.get_ref().shutdown(std::net::Shutdown::Write);
        }
        if *lock(&self.0.delivering) != Some(thread::current().id()) {
            self.finish(&mut lock(&self.0.connection), reason);
        }
    }

    fn finish(&self, connection: &mut Option<Box<dyn Connection>>, reason: &str) {
        if let Some(mut connection) = connection.take() {
            connection.close(self, reason);
        }
    }

    /// Hands a message to the application, one at a time.
    pub(super) fn deliver(&self, data: Data) {
        let mut connection = lock(&self.0.connection);
        if let Some(c) = connection.as_mut()
            && !self.is_closed()
        {
            *lock(&self.0.delivering) = Some(thread::current().id());
            c.message(self, data);
            *lock(&self.0.delivering) = None;
        }
        // A close that happened meanwhile could not reach the application: do it now.
        let reason = lock(&self.0.state).closed.clone();
        if let Some(reason) = reason {
            self.finish(&mut connection, &reason);
        }
    }

    /// Tells the application that the session is on its WebSocket now.
    pub(super) fn upgraded(&self) {
        if let Some(c) = lock(&self.0.connection).as_mut() {
            c.upgraded(self);
        }
    }

    /// Stores the application's connection; if the session ended already, tells it at once.
    pub(super) fn attach(&self, connection: Box<dyn Connection>) {
        let mut slot = lock(&self.0.connection);
        *slot = Some(connection);
        let reason = lock(&self.0.state).closed.clone();
        if let Some(reason) = reason {
            self.finish(&mut slot, &reason);
        }
    }

    /// A packet from the client, on either transport. `Err`: not allowed here; close.
    pub(super) fn receive(&self, packet: Packet) -> Result<(), &'static str> {
        match packet {
            Packet::Message(data) => self.deliver(data),
            Packet::Pong(_) => {
                let mut state = lock(&self.0.state);
                state.pong_deadline = None;
                state.next_ping = Instant::now() + self.0.ping_interval;
            }
            Packet::Close => self.close_with("client close"),
            Packet::Noop => {}
            _ => return Err("unexpected packet from the client"),
        }
        Ok(())
    }

    /// The heartbeat for `now`: pings a polling session through its next poll, and says when
    /// to ping a WebSocket one; closes one whose pong or connect deadline passed.
    /// `websocket_thread`: the caller is the session's WebSocket reader, which sends the pings
    /// of a WebSocket session (the heartbeat thread never blocks on one client's socket).
    pub(super) fn beat(&self, now: Instant, websocket_thread: bool) -> Beat {
        let mut state = lock(&self.0.state);
        let later = now + self.0.ping_interval;
        if state.closed.is_some() {
            return Beat::Until(later);
        }
        if state.deadline.is_some_and(|d| now >= d) {
            return Beat::Close(state.deadline_reason);
        }
        // Mid-upgrade the client holds back its polls; the upgrade timeout bounds this.
        let others = state.transport == Transport::WebSocket && !websocket_thread;
        if state.upgrading || others {
            let until = state.deadline.map_or(later, |d| d.min(later));
            return match state.pong_deadline {
                Some(due) if others && now >= due => Beat::Close("ping timeout"),
                _ => Beat::Until(until),
            };
        }
        let next = match state.pong_deadline {
            Some(due) if now >= due => return Beat::Close("ping timeout"),
            Some(due) => due,
            None if now < state.next_ping => state.next_ping,
            None => {
                let due = now + self.0.ping_timeout;
                state.pong_deadline = Some(due);
                if state.transport == Transport::WebSocket {
                    return Beat::Ping(due);
                }
                state.ping_pending = true;
                self.0.changed.notify_all();
                due
            }
        };
        Beat::Until(state.deadline.map_or(next, |d| d.min(next)))
    }

    /// Writes what waits in the source to the WebSocket, in order.
    pub(super) fn flush_ws(&self) {
        let ws = lock(&self.0.ws);
        let Some(writer) = ws.as_ref() else { return };
        loop {
            let mut out = Vec::new();
            self.0.source.take(&mut out, self.0.budget);
            if out.is_empty() {
                return;
            }
            for packet in out {
                if !sent(writer.send(ws_message(packet)), writer) {
                    drop(ws);
                    return self.close_with("transport error");
                }
            }
        }
    }
}

/// Bytes a WebSocket may hold back for a full socket (with a short write timeout) before its
/// client counts as not reading.
const WS_BACKLOG: usize = 64 * 1024;

/// Did a WebSocket send go out, or at least get queued? On a socket with a short write timeout
/// a full send buffer keeps the rest of the frame queued in the writer; it goes out before the
/// next frame, so that is fine while the backlog stays small.
pub(super) fn sent(result: Result<(), crate::ws::Error>, writer: &WsWriter) -> bool {
    match result {
        Ok(()) => true,
        Err(crate::ws::Error::Io(e)) if wire::is_full(&e) => writer.queued() <= WS_BACKLOG,
        Err(_) => false,
    }
}

/// A packet as a WebSocket message: binary messages are binary frames of their bytes, the
/// rest text frames of their text form.
pub(super) fn ws_message(packet: Packet) -> Message {
    match packet {
        Packet::Message(Data::Binary(bytes)) => Message::Binary(bytes),
        other => Message::Text(other.to_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::Message(Data::Text(s.into()))
    }

    #[test]
    fn the_queue_is_bounded_and_hands_out_within_a_budget() {
        let queue = Queue::new(10);
        assert!(queue.push(vec![text("aaa"), text("bbb")]));
        assert!(!queue.push(vec![text("cccc")]), "4+4+5 bytes > 10");
        assert!(queue.push(vec![text("c")]));
        let mut out = Vec::new();
        queue.take(&mut out, 5);
        assert_eq!(out, vec![text("aaa")]);
        out.clear();
        queue.take(&mut out, 100);
        assert_eq!(out, vec![text("bbb"), text("c")]);
        // One packet always goes, even over the budget.
        assert!(queue.push(vec![text("123456789")]));
        out.clear();
        queue.take(&mut out, 1);
        assert_eq!(out.len(), 1);
        out.clear();
        queue.take(&mut out, 100);
        assert!(out.is_empty());
    }
}
