//! plainsock: TCP, UDP and WebSocket the plain way — `std::net`, a thread per connection,
//! blocking reads and writes, channels for broadcast.
//!
//! # Map, bottom to top
//!
//! Each layer uses only the layers below it; nothing below knows what is above.
//!
//! | layer | module | the one idea it shows |
//! |---|---|---|
//! | codecs | [`ws`] | RFC 6455 WebSocket: handshake, frames, masking, messages, close — over any `Read`/`Write` |
//! | | [`http`] | just enough HTTP/1.1 to upgrade to WebSocket and serve one page |
//! | | [`chat`] | the line protocol: `NICK: TEXT`, `* notices`, `/commands` (pure functions) |
//! | | [`json`] | RFC 8259 JSON: a value type, an encoder, a strict and bounded decoder |
//! | | [`socketio`] | Socket.IO v5 on Engine.IO: namespaces, events, acks, binary attachments |
//! | | [`resp`] | RESP2, the Redis protocol: commands out, replies parsed incrementally, one blocking connection |
//! | | [`proxy`] | behind a reverse proxy: the client's real address, scheme and host from `Forwarded` / `X-Forwarded-*`, believed only from `--trust-proxy` peers |
//! | | [`wire`] | writing to a blocking socket without waiting on it: what a short write left is sent first next time |
//! | | [`url`], [`rand`], [`log`], [`config`] | small helpers; every limit and timeout with its default |
//! | the room | [`delivery`] | an outbox per member (bounded in bytes and age), the writer lanes that never wait on one member, the retry thread |
//! | | [`hub`] | the chat room every transport joins; one thread, one order of messages |
//! | | [`cluster`] | one room across many processes: a Redis stream as the sequencer, presence with a TTL |
//! | | [`backplane`] | `--cluster`, the hub's side: room lines published to Redis and delivered as they come back, so every process has one order |
//! | plumbing | [`conn`] | what every connection needs: the accept loop, a thread each, the member cap, the registry shutdown uses |
//! | | [`limits`] | the per-address cap (`--max-per-ip`): members and handshakes counted per client address, IPv6 by /64 |
//! | transports | [`tcp`] | a byte stream: one listening port, one socket + one thread per client, lines cut from the stream |
//! | | [`udp`] | datagrams: one socket, one `recv_from` loop, peers told apart by their address |
//! | | [`engineio`] | Engine.IO v4: sessions over HTTP long polling, upgraded to WebSocket; heartbeat (its packet codec is pure) |
//! | | [`socketio_chat`] | the room over Socket.IO at `/socket.io/`: long-polling members pull their outbox, upgraded ones get it from the lanes |
//! | | [`web`] | the HTTP port: the chat page at `/`, the room at `/ws`, Socket.IO at `/socket.io/` |
//! | assembly | [`server`] | `plainsock serve`: binds the listeners and hands each to its transport |
//! | | [`client`] | `plainsock chat URL`: a terminal client for every transport |
//!
//! The protocol code ([`ws::frame`], [`http`], [`chat`], [`resp`]) works on byte buffers, with no socket,
//! so the RFC's own examples are unit tests. Adding a transport is one new module (it gets a
//! [`conn`] context and a socket, and joins the [`hub`]) and one line in [`server`].

pub mod backplane;
pub mod chat;
pub mod client;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod delivery;
pub mod engineio;
pub mod http;
pub mod hub;
pub mod json;
pub mod limits;
pub mod log;
pub mod proxy;
pub mod rand;
pub mod resp;
pub mod server;
pub mod socketio;
pub mod socketio_chat;
pub mod tcp;
pub mod udp;
pub mod url;
pub mod web;
pub mod wire;
pub mod ws;

pub use config::ServerConfig;
pub use server::Server;
