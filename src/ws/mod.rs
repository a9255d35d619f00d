//! WebSocket (RFC 6455) written by hand over blocking `Read`/`Write`.

pub mod client;
pub mod frame;
pub mod handshake;
pub mod server;

// TEMPORARY until ws-core merges: stand-in for Config, Error, Message, WebSocket.
mod stub;
pub use stub::*;
