//! The HTTP port: the chat page at `GET /`, the chat room at `GET /ws` (WebSocket).
//!
//! Why WebSocket exists: HTTP only answers requests, so a page could not be told of new chat
//! lines without asking again and again. The upgrade turns this one HTTP connection into a
//! two-way message channel (RFC 6455 §1.2), and from then on a browser is a room member like
//! any `nc` user: one thread reads its frames, the hub's writer lanes send it frames.

use crate::hub::{Farewell, Outgoing, Outlet, Transport};
use crate::server::Context;
use crate::ws::{self, Error, Message, Role, WsReader, WsWriter};
use crate::{http, http::Request, ws::handshake};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// The whole browser client: one file, no CDN, embedded in the binary.
pub const CHAT_PAGE: &str = include_str!("chat.html");

/// What `GET /` answers with, besides the page: the page may run only its own inline code and
/// talk only to this server.
const PAGE_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
    ),
];

/// Serves one HTTP connection (on its own thread): a page, a refusal, or a chat member.
pub(crate) fn serve(stream: &Arc<TcpStream>, peer: SocketAddr, ctx: &Arc<Context>) {
    let config = &ctx.config;
    let (request, leftover) =
        match http::read_request_head(stream, config.max_head, config.handshake_timeout) {
            Ok(head) => head,
            Err(e) => return respond(stream, e.status, &[], &e.reason),
        };
    let path = request.target.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/" | "/index.html") => {
            let _ = http::write_response(&mut &**stream, 200, PAGE_HEADERS, CHAT_PAGE.as_bytes());
            http::close_after_response(stream);
        }
        ("GET", "/ws") => upgrade(stream, peer, ctx, &request, leftover),
        ("GET", _) => respond(
            stream,
            404,
            &[],
            &format!("nothing at {path}; the chat page is at /"),
        ),
        _ => respond(stream, 405, &[("Allow", "GET")], "only GET is served here"),
    }
}

/// `GET /ws`: check the request, the origin and the room's capacity; then join the room.
fn upgrade(
    stream: &Arc<TcpStream>,
    peer: SocketAddr,
    ctx: &Arc<Context>,
    request: &Request,
    leftover: Vec<u8>,
) {
    if !handshake::wants_upgrade(request) {
        let why = "this is the WebSocket endpoint: connect with a WebSocket client \
                   (Upgrade: websocket, Connection: Upgrade)";
        return respond(stream, 400, &[], why);
    }
    let key = match handshake::check_request(request) {
        Ok(key) => key,
        Err(e) => {
            return respond(
                stream,
                e.status,
                handshake::refusal_headers(e.status),
                &e.reason,
            );
        }
    };
    if let Some(origin) = request.header("Origin")
        && !http::origin_allowed(origin, request.header("Host"), &ctx.config.allow_origins)
    {
        let why = format!("pages from {origin} may not open this chat");
        return respond(stream, 403, &[], &why);
    }
    let Some(_slot) = ctx.slots.try_take() else {
        return respond(stream, 503, &[], "the room is full; try again later");
    };
    if (&**stream)
        .write_all(&handshake::response_101(&key, None))
        .is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(ctx.config.write_timeout));
    // A chat line is small: the chat's limits replace the library's 16/64 MiB.
    let limits = ws::Config {
        max_frame_size: ctx.config.max_line,
        max_message_size: ctx.config.max_line,
        ..ws::Config::default()
    };
    let (reader, writer) = ws::split_shared(stream.clone(), Role::Server, leftover, limits);
    chat_member(reader, writer, stream, peer, ctx);
}

/// Reads the member's messages until it leaves; pings it when it is quiet (keepalive).
fn chat_member(
    mut reader: WsReader,
    writer: WsWriter,
    stream: &TcpStream,
    peer: SocketAddr,
    ctx: &Arc<Context>,
) {
    let member = ctx.hub.join(
        Transport::WebSocket,
        peer,
        Arc::new(WsOutlet(writer.clone())),
    );
    let _ = stream.set_read_timeout(Some(ctx.config.ping_interval));
    let mut pinged = false;
    loop {
        match reader.read() {
            Ok(Message::Text(text)) if ctx.config.fault_injection && text == "/panic" => {
                panic!("fault injection: /panic from {peer}")
            }
            Ok(Message::Text(text)) => member.say(text),
            Ok(Message::Binary(_)) => {
                member.tell("error: binary messages are not chat lines; ignored")
            }
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            // The library has answered the Close; the connection is over.
            Ok(Message::Close(_)) => break,
            Err(Error::Io(e)) if is_timeout(&e) => {
                if pinged {
                    // RFC 6455 §5.5.2: a ping unanswered for pong_timeout: the peer is gone.
                    let _ = writer.shutdown();
                    break;
                }
                pinged = true;
                if writer.send(Message::Ping(Vec::new())).is_err() {
                    break;
                }
                let _ = stream.set_read_timeout(Some(ctx.config.pong_timeout));
                continue;
            }
            Err(_) => break,
        }
        if pinged {
            pinged = false;
            let _ = stream.set_read_timeout(Some(ctx.config.ping_interval));
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The hub's way to write to a WebSocket member: each line is one text frame, encoded once
/// by the hub for every member (server frames are not masked, so the bytes are the same).
struct WsOutlet(WsWriter);

impl Outlet for WsOutlet {
    fn send(&self, lines: &[Arc<Outgoing>]) -> io::Result<()> {
        let frames: Vec<&[u8]> = lines.iter().map(|line| line.ws_frame()).collect();
        self.0.send_prepared_all(&frames).map_err(into_io)
    }

    fn close(&self, why: &Farewell) {
        let (code, reason) = match why {
            Farewell::Quit => (1000, "bye".to_string()),
            // RFC 6455 §7.4.1: 1008, the endpoint received something against its policy.
            Farewell::TooSlow => (1008, "too slow: messages were not being read".to_string()),
            Farewell::Shutdown => (1001, "server shutting down".to_string()),
            Farewell::Fault(why) => (1008, why.clone()),
        };
        if *why == Farewell::TooSlow {
            // Its send buffer is full: try once, briefly, rather than wait out another timeout.
            let _ = self
                .0
                .get_ref()
                .set_write_timeout(Some(Duration::from_millis(1)));
        } else {
            // The same notice line a terminal member gets, then the Close.
            let notice = Outgoing::new(why.notice());
            let _ = self.0.send_prepared(notice.ws_frame());
        }
        let _ = self.0.close(code, truncate(&reason, 123));
        // Our Close is sent; FIN follows. The reader still sees the peer's Close reply.
        let _ = self.0.get_ref().shutdown(std::net::Shutdown::Write);
    }
}

/// A close reason fits in a control frame: at most 123 bytes (RFC 6455 §5.5.1), cut at a char.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// A short plain-text HTTP answer, then a close that lets the peer read it.
fn respond(stream: &TcpStream, status: u16, headers: &[(&str, &str)], body: &str) {
    let mut all = vec![("Content-Type", "text/plain; charset=utf-8")];
    all.extend_from_slice(headers);
    let _ = http::write_response(
        &mut &*stream,
        status,
        &all,
        format!("{status} {body}\n").as_bytes(),
    );
    http::close_after_response(stream);
}

/// Answers a connection the server has no room for at all (called on the accept thread).
pub(crate) fn refuse(stream: &TcpStream) {
    let body = b"503 the server is at its connection limit\n";
    let _ = http::write_response(&mut &*stream, 503, &[("Content-Type", "text/plain")], body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame() {
        assert_eq!(truncate("short", 123), "short");
        assert_eq!(truncate(&"é".repeat(100), 123).len(), 122);
    }
}
