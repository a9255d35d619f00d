//! The HTTP + WebSocket port (placeholder until the browser chat lands).

use crate::server::Context;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

pub(crate) fn serve(stream: &Arc<TcpStream>, _peer: SocketAddr, _ctx: &Arc<Context>) {
    let _ = (&**stream).write_all(
        b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}

pub(crate) fn refuse(stream: &TcpStream) {
    let _ = (&*stream).write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}
