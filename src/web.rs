//! The HTTP port: the chat page at `GET /`, the chat room at `GET /ws` (WebSocket), at
//! `GET /status` why `/ws` would refuse a page, and at `GET /history?after=SEQ` the room's
//! latest messages for a client that asks again and again (short polling, what WebSocket
//! replaces; `make bench` scenario 10 measures the difference).
//!
//! Why WebSocket exists: HTTP only answers requests, so a page could not be told of new chat
//! lines without asking again and again. The upgrade turns this one HTTP connection into a
//! two-way message channel (RFC 6455 §1.2), and from then on a browser is a room member like
//! any `nc` user: one thread reads its frames, the hub's writer lanes send it frames.

use crate::conn::Context;
use crate::delivery::lanes::SHORT_WRITE;
use crate::delivery::receipts::Receipts;
use crate::delivery::{Farewell, Outgoing, Outlet};
use crate::hub::Transport;
use crate::json::Json;
use crate::limits::{AddressSlot, TOO_MANY_FROM_YOU};
use crate::proxy::{self, Client};
use crate::ws::frame::Opcode;
use crate::ws::{self, Error, Message, Role, WsReader, WsWriter};
use crate::{http, http::Request, wire, ws::handshake};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The WebSocket subprotocol of the room (`Sec-WebSocket-Protocol: chat`), chosen when offered.
pub const CHAT_PROTOCOL: &str = "chat";

/// A WebSocket member's read buffer while it is quiet: a typical chat line's frame fits, and a
/// longer one grows it (10,000 idle members each hold one).
const CHAT_READ_BUFFER: usize = 256;

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
    // A handshake in progress counts under the client's address. A trusted proxy's
    // connections count under the address it reports, known once the head is read.
    let early = if config.trust_proxy.contains(peer.ip()) {
        None
    } else {
        let Some(place) = take_place(stream, peer, ctx) else {
            return;
        };
        Some(place)
    };
    let (request, leftover) =
        match http::read_request_head(stream, config.max_head, config.handshake_timeout) {
            Ok(head) => head,
            Err(e) => return respond(stream, e.status, &[], &e.reason),
        };
    let client = proxy::client(peer, &request.headers, &config.trust_proxy);
    let Some(_place) = early.or_else(|| take_place(stream, client.addr, ctx)) else {
        return;
    };
    let (mut request, mut leftover, mut client) = (request, leftover, client);
    loop {
        let (next, rest) = match route(stream, &client, ctx, request, leftover) {
            After::Close => return,
            // Only `/history` keeps the connection open for us: a short-polling client asks
            // again on it (RFC 9112 §9.3), within the handshake timeout, or it ends quietly.
            After::KeepAlive(rest) => {
                let timeout = config.handshake_timeout;
                match http::next_request(stream, rest, config.max_head, timeout, timeout) {
                    Ok(Some(next)) => next,
                    Ok(None) => return,
                    Err(e) => return respond(stream, e.status, &[], &e.reason),
                }
            }
            // Socket.IO keeps its connections alive, and a browser sends any request to this
            // server on one (the page's GET /status after a long poll): those come back here.
            After::Next(next, rest) => (next, rest),
        };
        client = proxy::client(peer, &next.headers, &config.trust_proxy);
        (request, leftover) = (next, rest);
    }
}

/// What the connection does after a request.
enum After {
    Close,
    /// Read the next request (after these bytes read past the last one).
    KeepAlive(Vec<u8>),
    /// This request, already read, is next.
    Next(Request, Vec<u8>),
}

/// Answers one request (or, for `/ws` and `/socket.io/`, serves the connection from it on).
fn route(
    stream: &Arc<TcpStream>,
    client: &Client,
    ctx: &Arc<Context>,
    request: Request,
    leftover: Vec<u8>,
) -> After {
    if request.method == "GET" && request.path() == "/ws" {
        // Handed over whole: the member's thread keeps nothing of it once it is in the room.
        upgrade(stream, client, ctx, request, leftover);
        return After::Close;
    }
    if let Some(socketio) = ctx.socketio.as_ref().filter(|s| s.serves(&request.target)) {
        return match socketio.serve_connection(stream, request, leftover) {
            Some((next, rest)) => After::Next(next, rest),
            None => After::Close,
        };
    }
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
        ("HEAD", "/ws") => respond_to(stream, true, 400, &[], NOT_AN_UPGRADE),
        ("GET", "/status") => status(stream, client, ctx, &request),
        ("GET" | "HEAD", "/history") => {
            if history(stream, client, ctx, &request, head_only) {
                return After::KeepAlive(leftover);
            }
        }
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
    After::Close
}

/// A place under `--max-per-ip` for `client`; without one, a 503 saying why.
fn take_place(stream: &TcpStream, client: SocketAddr, ctx: &Context) -> Option<AddressSlot> {
    let place = ctx.per_address.try_take(client.ip());
    if place.is_none() {
        let why = format!(
            "{TOO_MANY_FROM_YOU} (at most {}); close some and try again",
            ctx.config.max_per_ip
        );
        respond(stream, 503, &[], &why);
        ctx.log
            .line(format_args!("ws: {client} refused: {TOO_MANY_FROM_YOU}"));
    }
    place
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
    client: &Client,
    ctx: &Arc<Context>,
    head: Request,
    leftover: Vec<u8>,
) {
    let request = &head;
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
        && foreign(origin, client, ctx, request)
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
    // The request head (a few hundred bytes of headers) is not needed any more, and a member
    // may stay for days: 10,000 of them would keep megabytes of old headers.
    drop((key, protocol, head));
    let _ = stream.set_nodelay(true);
    // Lanes write to many members: a full socket must refuse at once, not wait for its reader.
    let _ = stream.set_write_timeout(Some(SHORT_WRITE));
    // A chat line is small: the chat's limits replace the library's 16/64 MiB.
    let limits = ws::Config {
        max_frame_size: ctx.config.max_line,
        max_message_size: ctx.config.max_line,
        read_buffer_size: CHAT_READ_BUFFER,
        ..ws::Config::default()
    };
    let (reader, writer) = ws::split_shared(stream.clone(), Role::Server, leftover, limits);
    let peer = client.addr;
    chat_member(reader, writer, stream, peer, ctx);
}

/// Is `origin` neither this server's own pages nor one of `--allow-origin`? (CSRF: see
/// [`http::origin_allowed`].)
fn foreign(origin: &str, client: &Client, ctx: &Context, request: &Request) -> bool {
    let own = client.own_origin(request.host());
    !http::origin_allowed(origin, own.as_deref(), &ctx.config.allow_origins)
}

/// `GET /status?origin=ORIGIN`: would `/ws` take a page from ORIGIN now? A browser shows a
/// script no refused handshake's status or body, only a close (1006), so the page asks here,
/// over plain HTTP, why it could not join: 200, or the 403 or 503 that `/ws` answers, each with
/// its reason. Same-origin GETs carry no `Origin` header, so the page names its origin in the
/// query, as `location.origin` has it (no percent-decoding); a real `Origin` header wins.
fn status(stream: &TcpStream, client: &Client, ctx: &Context, request: &Request) {
    let query = request
        .target
        .split_once('?')
        .map_or("", |(_, query)| query);
    let asked = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("origin="));
    if let Some(origin) = request.header("Origin").or(asked)
        && foreign(origin, client, ctx, request)
    {
        let why = "this server takes chat connections only from its own pages \
                   (and from origins given with --allow-origin)";
        return respond(stream, 403, &[("Cache-Control", "no-store")], why);
    }
    // Taken and given back at once: a look at the room's capacity, not a reservation.
    if ctx.slots.try_take().is_none() {
        let why = "the room is full; try again later";
        return respond(stream, 503, &[("Cache-Control", "no-store")], why);
    }
    respond(
        stream,
        200,
        &[("Cache-Control", "no-store")],
        "the room has space",
    )
}

/// `GET /history?after=SEQ`: the room's messages numbered above SEQ, at once, as JSON:
/// `{"next":N,"lines":["alice: hi",…],"missed":M}`. N is the latest message's number (the next
/// SEQ to ask with), M how many after SEQ the history (`--history`) no longer holds. No SEQ is
/// `after=0`, from the start. The page's own origin only, as at `/ws`, and no CORS headers.
/// True when the connection stays open for the client's next request.
fn history(
    stream: &TcpStream,
    client: &Client,
    ctx: &Context,
    request: &Request,
    head_only: bool,
) -> bool {
    let no_store = [("Cache-Control", "no-store")];
    if let Some(origin) = request.header("Origin")
        && foreign(origin, client, ctx, request)
    {
        let why = format!("pages from {origin} may not read this chat");
        respond(stream, 403, &no_store, &why);
        return false;
    }
    let after = match parse_after(request.query().unwrap_or_default()) {
        Ok(after) => after,
        Err(why) => {
            respond(stream, 400, &no_store, &why);
            return false;
        }
    };
    let Some(page) = ctx.hub.history(after) else {
        respond(stream, 503, &no_store, "the room is shutting down");
        return false;
    };
    if after > page.latest {
        let why = format!(
            "after={after}: there is no message {after} yet (the latest is {}); \
             start again from after=0",
            page.latest
        );
        respond(stream, 400, &no_store, &why);
        return false;
    }
    let body = Json::object([
        ("next", Json::from(page.latest)),
        (
            "lines",
            Json::Array(page.lines.into_iter().map(Json::from).collect()),
        ),
        ("missed", Json::from(page.missed)),
    ])
    .to_string();
    let headers = [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
    ];
    let keep_alive = !head_only && http::wants_keep_alive(request);
    let sent = if head_only {
        http::write_response_head(&mut &*stream, 200, &headers, body.as_bytes())
    } else if keep_alive {
        http::write_response_keep_alive(&mut &*stream, 200, &headers, body.as_bytes())
    } else {
        http::write_response(&mut &*stream, 200, &headers, body.as_bytes())
    };
    if sent.is_ok() && keep_alive {
        return true;
    }
    http::close_after_response(stream);
    false
}

/// `after=SEQ` in a query: SEQ in decimal digits (no sign, at most a u64). Absent: 0.
fn parse_after(query: &str) -> Result<u64, String> {
    let Some(seq) = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("after="))
    else {
        return Ok(0);
    };
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        let shown: String = seq.chars().take(40).collect();
        return Err(format!(
            "after={shown}: SEQ must be a message number in decimal digits, as in after=42"
        ));
    }
    seq.parse()
        .map_err(|_| format!("after: {} digits is beyond any message number", seq.len()))
}

/// Reads the member's messages until it leaves; pings it when it is quiet (keepalive).
fn chat_member(
    mut reader: WsReader,
    writer: WsWriter,
    stream: &TcpStream,
    peer: SocketAddr,
    ctx: &Arc<Context>,
) {
    let outlet = Arc::new(WsOutlet::new(writer.clone(), ctx.config.write_timeout));
    let member = ctx.hub.join(Transport::WebSocket, peer, outlet.clone());
    let mut timeout = ctx.config.ping_interval;
    let _ = stream.set_read_timeout(Some(timeout));
    let mut pinged = false;
    loop {
        let asked = Instant::now();
        outlet.listening();
        let read = reader.read();
        if read.is_ok() && outlet.heard() {
            // It was not reading, as far as the server knew, and its lines waited: not now.
            member.flush();
        }
        match read {
            // A lane had the socket non-blocking for a moment: not a timeout; read again.
            Err(Error::Io(e)) if wire::is_spurious(&e, asked, Some(timeout)) => continue,
            Ok(Message::Text(text)) if ctx.config.fault_injection && text == "/panic" => {
                panic!("fault injection: /panic from {peer}")
            }
            Ok(Message::Text(text)) => member.say(text),
            Ok(Message::Binary(_)) => {
                member.tell("error: binary messages are not chat lines; ignored")
            }
            // The library answered the Ping; a full socket may have kept the Pong back.
            Ok(Message::Ping(_)) if writer.queued() > 0 => member.flush(),
            Ok(Message::Pong(payload)) => outlet.pong(&payload),
            Ok(Message::Ping(_)) => {}
            // The library has answered the Close; the connection is over.
            Ok(Message::Close(_)) => break,
            Err(Error::Io(e)) if http::is_timeout(&e) => {
                if pinged {
                    // RFC 6455 §5.5.2: a ping unanswered for pong_timeout: the peer is gone, or
                    // so slow it may as well be. Tell it why, if it still reads (1001: going
                    // away; the socket's write timeout is short, so a full send buffer does not
                    // hold us), then end the connection.
                    let pong_timeout = ctx.config.pong_timeout;
                    ctx.log.line(format_args!(
                        "ws {peer}: dropped: no pong within {pong_timeout:?}"
                    ));
                    let why = format!("dropped: no pong within {pong_timeout:?}");
                    let _ = writer.close(1001, truncate(&why, 123));
                    let _ = writer.shutdown();
                    break;
                }
                pinged = true;
                if writer.send(Message::Ping(Vec::new())).is_err() {
                    break;
                }
                timeout = ctx.config.pong_timeout;
                let _ = stream.set_read_timeout(Some(timeout));
                continue;
            }
            Err(_) => break,
        }
        if pinged {
            pinged = false;
            timeout = ctx.config.ping_interval;
            let _ = stream.set_read_timeout(Some(timeout));
        }
    }
}

/// How lines reach a WebSocket member: each line is one text frame, encoded once by the hub
/// for every member (server frames are not masked, so the bytes are the same). The writer's
/// lock also orders the reader's Pong and Close replies, so a frame cut by a full socket is
/// finished before any other frame. Now and then a Ping goes with the lines; its Pong, which
/// the member's reader hands to [`WsOutlet::pong`], is the member's read receipt
/// ([`Receipts`]).
struct WsOutlet {
    writer: WsWriter,
    receipts: Mutex<Receipts>,
    /// How long a read receipt may take (`--write-timeout`, as for the oldest waiting line).
    receipt_timeout: Duration,
}

impl WsOutlet {
    fn new(writer: WsWriter, receipt_timeout: Duration) -> WsOutlet {
        WsOutlet {
            writer,
            receipts: Mutex::new(Receipts::new(crate::rand::random_u64())),
            receipt_timeout,
        }
    }

    fn receipts(&self) -> MutexGuard<'_, Receipts> {
        // Nothing leaves the receipts half-changed across a panic.
        self.receipts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The member's reader got a frame and is busy with it (see [`Receipts::heard`]); `true`
    /// if its lines were being held back, which they no longer are: offer them again.
    fn heard(&self) -> bool {
        let mut receipts = self.receipts();
        let now = Instant::now();
        let held = receipts.allowance(now).is_some();
        receipts.heard(now);
        held
    }

    /// The member's reader waits for the next frame.
    fn listening(&self) {
        self.receipts().listening();
    }

    /// A Pong from the member: if it answers the receipts' Ping, the member reads.
    fn pong(&self, payload: &[u8]) {
        if let Some(mark) = Receipts::mark_of(payload) {
            self.receipts().answered(mark);
        }
    }
}

impl Outlet for WsOutlet {
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        let mut receipts = self.receipts();
        // A late receipt: only what the allowance leaves (maybe nothing: the end of a cut
        // frame still goes, for it may be the very Ping the member must answer).
        let lines = match receipts.allowance(Instant::now()) {
            None => lines,
            Some(left) => {
                let mut bytes = 0;
                let fit = lines
                    .iter()
                    .take_while(|line| {
                        bytes += line.size() as u64;
                        bytes <= left
                    })
                    .count();
                &lines[..fit]
            }
        };
        let mut frames: Vec<&[u8]> = lines.iter().map(|line| line.ws_frame()).collect();
        let bytes: u64 = lines.iter().map(|line| line.size() as u64).sum();
        let mark = receipts.mark_due(bytes);
        let mut ping = Vec::new();
        if let Some(mark) = mark {
            // RFC 6455 §5.5.2: the client answers with a Pong of the same payload, once it
            // has read this far.
            let payload = Receipts::mark_payload(mark);
            ws::frame::encode(true, Opcode::Ping, None, &payload, &mut ping);
            frames.push(&ping);
        }
        let taken = wire::without_waiting(self.writer.get_ref(), || {
            self.writer.send_prepared_now(&frames).map_err(into_io)
        })?;
        let lines_taken = taken.min(lines.len());
        let bytes_taken = if lines_taken == lines.len() {
            bytes
        } else {
            lines[..lines_taken].iter().map(|l| l.size() as u64).sum()
        };
        let mark_taken = mark.filter(|_| taken > lines.len());
        receipts.sent(bytes_taken, mark_taken, Instant::now());
        Ok(lines_taken)
    }

    fn overdue(&self, now: Instant) -> bool {
        self.receipts().overdue(now, self.receipt_timeout)
    }

    fn holds_back(&self) -> bool {
        self.writer.queued() > 0
    }

    fn close(&self, why: &Farewell) {
        let (code, reason) = match why {
            Farewell::Quit => (1000, "bye".to_string()),
            // RFC 6455 §7.4.1: 1008, the endpoint received something against its policy.
            Farewell::TooSlow => (1008, "too slow: messages were not being read".to_string()),
            Farewell::Shutdown => (1001, "server shutting down".to_string()),
            Farewell::Fault(why) => (1008, why.clone()),
        };
        // A member that is too slow has a full socket: no write may wait on it.
        let _ = wire::without_waiting(self.writer.get_ref(), || {
            if *why != Farewell::TooSlow {
                // The same notice line a terminal member gets, then the Close.
                let notice = Outgoing::new(why.notice());
                let _ = self.writer.send_prepared_now(&[notice.ws_frame()]);
            }
            self.writer
                .close(code, truncate(&reason, 123))
                .map_err(into_io)
        });
        // Our Close is sent; FIN follows, and the reader sees the peer's Close reply. A member
        // that is too slow may not read at all, and then nothing more comes: the delivery
        // threads end the connection a write timeout later (`end`), which wakes the reader.
        // Not now: a client that still reads would answer our Ping or Close into a socket shut
        // for reading, and the kernel's reset would destroy the Close frame before it is read
        // (the client would see 1006, not 1008).
        let how = match why {
            Farewell::TooSlow if self.writer.queued() > 0 => std::net::Shutdown::Both,
            _ => std::net::Shutdown::Write,
        };
        let _ = self.writer.get_ref().shutdown(how);
    }

    fn end(&self) {
        let _ = self.writer.get_ref().shutdown(std::net::Shutdown::Both);
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
    fn after_is_a_decimal_message_number() {
        assert_eq!(parse_after(""), Ok(0));
        assert_eq!(parse_after("x=1"), Ok(0));
        assert_eq!(parse_after("after=0"), Ok(0));
        assert_eq!(parse_after("x=1&after=42"), Ok(42));
        assert_eq!(parse_after("after=18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "after=",
            "after=-1",
            "after=+1",
            "after=1e3",
            "after=%31",
            "after= 1",
        ] {
            assert!(parse_after(bad).is_err(), "{bad}");
        }
        let too_big = parse_after("after=18446744073709551616").unwrap_err();
        assert!(too_big.contains("beyond"), "{too_big}");
    }

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame() {
        assert_eq!(truncate("short", 123), "short");
        assert_eq!(truncate(&"é".repeat(100), 123).len(), 122);
    }
}
