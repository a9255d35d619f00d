//! WebSocket (RFC 6455) written by hand over blocking `Read`/`Write`.

pub mod frame;
