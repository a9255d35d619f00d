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
//! | [`http`] | just enough HTTP/1.1 to upgrade to WebSocket and serve one page |
//! | [`hub`] | the chat room every transport joins; one thread, one order of messages |
//! | [`backplane`] | `--cluster`: room lines published to Redis and delivered as they come back, so every process has one order |
//! | [`writer`] | the few threads that write to every member (the thread budget) |
//! | [`resp`] | RESP2, the Redis protocol: commands out, replies parsed incrementally, one blocking connection |
//! | [`chat`] | the line protocol: `NICK: TEXT`, `* notices`, `/commands` (pure functions) |
//! | [`cluster`] | one room across many processes: a Redis stream as the sequencer, presence with a TTL |
//! | [`server`] | `plainsock serve`: listeners, the member cap, the accept loop, shutdown |
//! | [`web`] | the HTTP port: the chat page at `/`, the room at `/ws` |
//! | [`limits`] | the per-address cap (`--max-per-ip`): members and handshakes counted per client address, IPv6 by /64 |
//! | [`proxy`] | behind a reverse proxy: the client's real address, scheme and host from `Forwarded` / `X-Forwarded-*`, believed only from `--trust-proxy` peers |
//! | [`client`] | `plainsock chat URL`: a terminal client for every transport |
//! | [`config`] | every limit and timeout with its default |
//! | [`url`], [`rand`] | small helpers written here instead of pulled in as crates |
//!
//! The protocol code ([`ws::frame`], [`http`], [`chat`], [`resp`]) works on byte buffers, with no socket,
//! so the RFC's own examples are unit tests.

pub mod backplane;
pub mod chat;
pub mod client;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod delivery;
pub mod http;
pub mod hub;
pub mod limits;
pub mod log;
pub mod proxy;
pub mod rand;
pub mod resp;
pub mod server;
pub mod tcp;
pub mod udp;
pub mod url;
pub mod web;
pub mod wire;
pub mod ws;

pub use config::ServerConfig;
pub use server::Server;
