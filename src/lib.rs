//! plainsock: TCP, UDP and WebSocket the plain way.

pub mod http;
pub mod rand;
pub mod url;
pub mod ws;
