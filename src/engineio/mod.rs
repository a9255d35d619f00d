//! Engine.IO v4, by hand: the transport under Socket.IO. A *session* (named by a random `sid`)
//! outlives HTTP requests: it starts over HTTP long polling and moves to a WebSocket when one
//! can be opened (the *upgrade*). Both directions carry [`Packet`]s.
//!
//! * [`packet`]: packets and polling payloads, pure functions (the protocol's examples are its
//!   unit tests).

pub mod packet;

pub use packet::{Data, Packet};
