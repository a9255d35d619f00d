//! Engine.IO v4, by hand: the transport under Socket.IO. A *session* (named by a random `sid`)
//! outlives HTTP requests: it starts over HTTP long polling — the client keeps one `GET` open
//! that the server answers when it has something to say, and sends its own packets in `POST`s
//! — and moves to a WebSocket when one can be opened (the *upgrade*). Both directions carry
//! [`Packet`]s; the server pings every `pingInterval`, and a session whose pong (or next poll)
//! does not come within `pingTimeout` is closed.
//!
//! * [`packet`]: packets and polling payloads, pure functions (the protocol's examples are its
//!   unit tests).
//! * `session`: one session's state, heartbeat and outgoing queue; [`Socket`] is its handle.
//! * `server`: the HTTP side — routing by query (`EIO`, `transport`, `sid`), the held `GET`,
//!   the `POST`, the WebSocket transport and the upgrade, the protocol's errors, keep-alive.
//!
//! # The seams an application plugs into
//!
//! * [`Handler::open`] is called for every new session and returns its [`Connection`], which
//!   receives the session's messages (`message`) and its end (`close`), one call at a time, on
//!   the thread that read them (a `POST`'s, or the WebSocket's reader).
//! * Outgoing packets wait in the session's [`Source`] (from [`Handler::source`]; by default a
//!   bounded [`Queue`]). Whoever adds to it calls [`Socket::wake`] afterwards (not while holding
//!   its own lock): a held poll then takes what waits and answers; on WebSocket the waking
//!   thread writes what waits, in order, itself. A chat room can hand in its member's outbox
//!   here, so that lines for a polling member wait where every member's lines wait, under the
//!   same bounds.
//!
//! Threads: one per TCP connection (a polling client holds one or two), plus one heartbeat
//! thread per [`Engine`]. Nothing else.

pub mod packet;
mod server;
mod session;

pub use packet::{Data, Packet};
pub use server::{Engine, Options, serve};
pub use session::{Connection, Feed, Handler, Queue, Socket, Source, Transport};
