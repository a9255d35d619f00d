//! plainsock: TCP, UDP and WebSocket the plain way.

pub mod ws;
