//! plainsock: TCP, UDP and WebSocket the plain way — `std::net`, a thread per connection,
//! blocking reads and writes, channels for broadcast.
//!
//! # Map
//!
//! | module | the one idea it shows |
//! |---|---|
//! | [`tcp`] | a byte stream: one listening port, one socket + one thread per client, lines cut from the stream |
//! | [`udp`] | datagrams: one socket, one `recv_from` loop, peers told apart by their address |
//! | [`ws`] | RFC 6455 WebSocket: handshake, frames, masking, messages, close — over any `Read`/`Write` |
//! | [`engineio`] | Engine.IO v4: sessions over HTTP long polling, upgraded to WebSocket; heartbeat |
//! | [`http`] | just enough HTTP/1.1 to upgrade to WebSocket and serve one page |
//! | [`hub`] | the chat room every transport joins; one thread, one order of messages |
//! | [`writer`] | the few threads that write to every member (the thread budget) |
//! | [`json`] | RFC 8259 JSON: a value type, an encoder, a strict and bounded decoder |
//! | [`chat`] | the line protocol: `NICK: TEXT`, `* notices`, `/commands` (pure functions) |
//! | [`socketio`] | Socket.IO v5 on Engine.IO: namespaces, events, acks, binary attachments |
//! | [`server`] | `plainsock serve`: listeners, the member cap, the accept loop, shutdown |
//! | [`web`] | the HTTP port: the chat page at `/`, the room at `/ws` |
//! | [`client`] | `plainsock chat URL`: a terminal client for every transport |
//! | [`config`] | every limit and timeout with its default |
//! | [`url`], [`rand`] | small helpers written here instead of pulled in as crates |
//!
//! The protocol code ([`ws::frame`], [`http`], [`chat`]) works on byte buffers, with no socket,
//! so the RFC's own examples are unit tests.

pub mod chat;
pub mod client;
pub mod config;
pub mod engineio;
pub mod http;
pub mod hub;
pub mod json;
pub mod rand;
pub mod server;
pub mod socketio;
pub mod tcp;
pub mod udp;
pub mod url;
pub mod web;
pub mod writer;
pub mod ws;

pub use config::ServerConfig;
pub use server::Server;
