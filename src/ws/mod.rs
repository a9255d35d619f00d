//! WebSocket (RFC 6455) written by hand over blocking `Read`/`Write`.
//!
//! * `frame`: the wire format of one frame (§5.2), pure functions over bytes.
//! * `mask`: client-to-server masking (§5.3), a machine word at a time.
//! * `utf8`: incremental UTF-8 check of text messages (§8.1).
//! * `message`: what the application sees, and the Close body (§5.5.1).
//! * `receiver` / `sender`: bytes to messages and back, with the limits.
//! * `socket`: `WebSocket`, and its `WsReader` / `WsWriter` halves.
//! * `handshake`: the opening handshake (§4) as pure functions; `server` / `client` run it
//!   over a `TcpStream`.

use std::time::Duration;

pub mod client;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
mod receiver;
mod sender;
pub mod server;
pub mod socket;
pub mod utf8;

#[cfg(test)]
mod tests;

pub use error::{Error, ProtocolError};
pub use message::{CloseFrame, Message};
pub use socket::{WebSocket, WsReader, WsWriter, split_shared};

/// Which end of the connection we are: it decides who masks (RFC 6455 §5.1)
/// and who closes the TCP connection first (§7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// Limits and timeouts of one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// A bigger frame fails the connection with 1009 before its payload is read.
    pub max_frame_size: usize,
    /// A bigger (reassembled) message fails the connection with 1009.
    pub max_message_size: usize,
    /// Longest HTTP head accepted in the opening handshake.
    pub max_head_size: usize,
    /// Time allowed for the opening handshake.
    pub handshake_timeout: Duration,
    /// The read buffer a connection starts with and shrinks back to when traffic calms down
    /// (it grows while reads fill it). Big enough for a pipelined batch of small frames in one
    /// `read`; a server of many idle connections may want less (each holds one).
    pub read_buffer_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_head_size: 8 << 10,
            handshake_timeout: Duration::from_secs(10),
            read_buffer_size: 4 * 1024,
        }
    }
}
