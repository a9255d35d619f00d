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

/// The WebSocket subprotocol of the room (`Sec-WebSocket-Protocol: chat`), chosen when offered.
pub const CHAT_PROTOCOL: &str = "chat";

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
    // RFC 9110 §9.3.2: HEAD is GET without the body; a server MUST support both.
    let head_only = request.method == "HEAD";
    let path = request.path();
    match (request.method.as_str(), path) {
        ("GET" | "HEAD", "/" | "/index.html") if handshake::wants_upgrade(&request) => {
            // A WebSocket client pointed at the page (`ws://HOST:8080`) would get 200 and HTML.
            let why = format!(
                "this is the chat page; the chat room is at /ws: connect to ws://{}/ws",
                printable_host(request.host())
            );
            respond_to(stream, head_only, 400, &[], &why);
        }
        ("GET" | "HEAD", "/" | "/index.html") => {
            let page = CHAT_PAGE.as_bytes();
            let _ = if head_only {
                http::write_response_head(&mut &**stream, 200, PAGE_HEADERS, page)
            } else {
                http::write_response(&mut &**stream, 200, PAGE_HEADERS, page)
            };
            http::close_after_response(stream);
        }
        ("GET", "/ws") => upgrade(stream, peer, ctx, &request, leftover),
        ("HEAD", "/ws") => respond_to(stream, true, 400, &[], NOT_AN_UPGRADE),
        ("GET" | "HEAD", _) => respond_to(
            stream,
            head_only,
            404,
            &[],
            &format!("nothing at {path}; the chat page is at /"),
        ),
        _ => respond(
            stream,
            405,
            &[("Allow", "GET, HEAD")],
            "only GET and HEAD are served here",
        ),
    }
}

const NOT_AN_UPGRADE: &str = "this is the WebSocket endpoint: connect with a WebSocket client \
                              (Upgrade: websocket, Connection: Upgrade)";

/// The host a request named, for a hint in a plain-text answer: only if it looks like one.
fn printable_host(host: Option<&str>) -> &str {
    let looks_like_a_host = |h: &&str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    host.filter(looks_like_a_host).unwrap_or("HOST")
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
        return respond(stream, 400, &[], NOT_AN_UPGRADE);
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
        && !origin_allowed(origin, request.host(), &ctx.config.allow_origins)
    {
        let why = format!("pages from {origin} may not open this chat");
        return respond(stream, 403, &[], &why);
    }
    let Some(_slot) = ctx.slots.try_take() else {
        return respond(stream, 503, &[], "the room is full; try again later");
    };
    // The room speaks one subprotocol, `chat` (lines of text). A client that asks for it gets
    // it; a client that asks for nothing gets none (RFC 6455 §4.2.2 leaves that to us).
    let protocol = handshake::choose_protocol(request, &[CHAT_PROTOCOL]);
    if (&**stream)
        .write_all(&handshake::response_101(&key, protocol.as_deref()))
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

/// Cross-site WebSocket hijacking: any page can open a WebSocket to any server, with the
/// user's cookies. Browsers send `Origin`, so only our own pages (and `--allow-origin` ones) may.
fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    let own = host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("http://{host}")));
    own || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
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
            Err(Error::Io(e)) if http::is_timeout(&e) => {
                if pinged {
                    // RFC 6455 §5.5.2: a ping unanswered for pong_timeout: the peer is gone, or
                    // so slow it may as well be. Tell it why, if it still reads (1001: going
                    // away), without waiting on a full send buffer, then end the connection.
                    let pong_timeout = ctx.config.pong_timeout;
                    ctx.log.line(format_args!(
                        "ws {peer}: dropped: no pong within {pong_timeout:?}"
                    ));
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(1)));
                    let why = format!("dropped: no pong within {pong_timeout:?}");
                    let _ = writer.close(1001, truncate(&why, 123));
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
    respond_to(stream, false, status, headers, body)
}

/// [`respond`], or for a `HEAD` request (`head_only`) the same answer without its body.
fn respond_to(
    stream: &TcpStream,
    head_only: bool,
    status: u16,
    headers: &[(&str, &str)],
    body: &str,
) {
    let mut all = vec![("Content-Type", "text/plain; charset=utf-8")];
    all.extend_from_slice(headers);
    let body = format!("{status} {body}\n");
    let _ = if head_only {
        http::write_response_head(&mut &*stream, status, &all, body.as_bytes())
    } else {
        http::write_response(&mut &*stream, status, &all, body.as_bytes())
    };
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
    fn only_our_own_pages_and_listed_origins_may_open_the_chat() {
        let listed = vec!["https://chat.example".to_string()];
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(origin_allowed(
            "HTTP://LOCALHOST:8080/",
            Some("localhost:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080"), &[]));
        assert!(origin_allowed(
            "https://chat.example",
            Some("127.0.0.1:8080"),
            &listed
        ));
    }

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame() {
        assert_eq!(truncate("short", 123), "short");
        assert_eq!(truncate(&"é".repeat(100), 123).len(), 122);
    }
}
