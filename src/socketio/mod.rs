//! Socket.IO v5, by hand, on top of [`crate::engineio`]: namespaces (`/`, `/admin` ...) that a
//! client joins with a CONNECT packet, named events with JSON arguments, acknowledgements
//! (an event that carries an id is answered by an ACK with that id), and binary arguments
//! sent as attachments.
//!
//! * [`packet`]: the packets and their decoder, pure functions.
//! * `server`: a Socket.IO server as an Engine.IO [`crate::engineio::Handler`]: the CONNECT
//!   handshake and its timeout, unknown namespaces refused, events handed to an [`App`].

pub mod packet;
mod server;

pub use packet::{Decoder, Kind, Packet, placeholder};
pub use server::{App, Client, Options, Server};
