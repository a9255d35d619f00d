//! The server side of Engine.IO over blocking sockets: requests are routed by their query
//! (`EIO=4&transport=polling|websocket[&sid=…]`), polls are held until there is something to
//! send, and one heartbeat thread pings every polling session.

use super::packet::{self, Data, Packet};
use super::session::{self, Beat, Handler, Session, Socket, State, Transport, lock};
use crate::conn::{Slots, accept_loop, spawn_connection};
use crate::http::{self, HttpError, Request};
use crate::json::Json;
use crate::log::Log;
use crate::proxy::{self, TrustedProxies};
use crate::ws::{self, Error, Message, Role, WsReader, WsWriter, handshake};
use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

/// An Engine.IO server's settings; the defaults are the reference server's.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the server answers, e.g. `/engine.io/` or `/socket.io/`.
    pub path: String,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Largest `POST` body and WebSocket message, in bytes; bigger gets 413 (or close 1009).
    pub max_payload: usize,
    /// A probe WebSocket must finish the upgrade (`5`) within this long.
    pub upgrade_timeout: Duration,
    /// Accept requests from pages of any origin (the compliance server does); otherwise only
    /// our own pages and `allow_origins`, as for `/ws`.
    pub any_origin: bool,
    pub allow_origins: Vec<String>,
    /// Sessions at once; more get 503.
    pub max_sessions: usize,
    /// TCP connections at once (each is a thread) for [`serve`]; more get 503.
    pub max_connections: usize,
    /// Largest request head, and how long it may take to arrive (also the time for a body).
    pub max_head: usize,
    pub head_timeout: Duration,
    /// A client that takes none of an answer for this long is gone.
    pub write_timeout: Duration,
    /// The write timeout of a session's WebSocket, if not `write_timeout`: a chat room whose
    /// writer lanes serve many sockets gives them a tiny one (they must not wait on one).
    pub websocket_write_timeout: Option<Duration>,
    /// Proxies whose `Forwarded` / `X-Forwarded-*` headers name the client (its address, and
    /// the scheme and host of its pages for the Origin check), as for `/ws`.
    pub trust_proxy: TrustedProxies,
    /// No log lines on stderr.
    pub quiet: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            path: "/engine.io/".into(),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            max_payload: 1_000_000,
            upgrade_timeout: Duration::from_secs(10),
            any_origin: false,
            allow_origins: Vec::new(),
            max_sessions: 10_000,
            max_connections: 10_000,
            max_head: 8 * 1024,
            head_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            websocket_write_timeout: None,
            trust_proxy: TrustedProxies::default(),
            quiet: false,
        }
    }
}

/// The error codes and messages of the reference server, sent as `{"code":N,"message":"…"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::UnknownTransport => "Transport unknown",
            Refusal::UnknownSid => "Session ID unknown",
            Refusal::BadHandshakeMethod => "Bad handshake method",
            Refusal::BadRequest => "Bad request",
            Refusal::Forbidden => "Forbidden",
            Refusal::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    fn status(self) -> u16 {
        if self == Refusal::Forbidden { 403 } else { 400 }
    }
}

/// What the connection does after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Wait for the client's next request.
    KeepAlive,
    /// Close it (after an error, or when the client asked).
    Close,
    /// It became a WebSocket, which has ended.
    Done,
}

struct Shared {
    options: Options,
    handler: Arc<dyn Handler>,
    sessions: Mutex<HashMap<String, Socket>>,
}

/// An Engine.IO server: its sessions and the heartbeat thread that pings them. Cloning it
/// gives another handle on the same server; the heartbeat thread ends within a second of the
/// last handle (and the last connection) going.
#[derive(Clone)]
pub struct Engine(Arc<Shared>);

/// The chat server mounts an engine on its web port.
impl crate::conn::Mount for Engine {
    fn serves(&self, target: &str) -> bool {
        Engine::serves(self, target)
    }

    fn serve_connection(
        &self,
        stream: &Arc<TcpStream>,
        request: Request,
        leftover: Vec<u8>,
    ) -> Option<(Request, Vec<u8>)> {
        Engine::serve_connection(self, stream, request, leftover)
    }

    fn close_all(&self) {
        Engine::close_all(self)
    }
}

/// The heartbeat thread looks at every session at least this often (and at least once per
/// ping interval, so a new session's first ping is on time) ...
const BEAT_AT_LEAST: Duration = Duration::from_secs(1);
/// ... and at most this often per ping timeout: with 10,000 sessions, each with its own
/// deadlines, it would otherwise wake for every one of them and look at all of them.
const BEATS_PER_TIMEOUT: u32 = 8;

impl Engine {
    pub fn new(options: Options, handler: impl Handler) -> io::Result<Engine> {
        let shared = Arc::new(Shared {
            options,
            handler: Arc::new(handler),
            sessions: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name("engine.io-heartbeat".into())
            .spawn(move || heartbeat(&weak))?;
        Ok(Engine(shared))
    }

    pub fn options(&self) -> &Options {
        &self.0.options
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        lock(&self.0.sessions).len()
    }

    /// Ends every session (the server is shutting down): held polls answer `1`, WebSockets
    /// get `1` and a close, and each application [`super::Connection`] is told.
    pub fn close_all(&self) {
        let sockets: Vec<Socket> = lock(&self.0.sessions).values().cloned().collect();
        for socket in sockets {
            socket.close_with("server shutting down");
        }
    }

    /// Is this request target one of ours?
    pub fn serves(&self, target: &str) -> bool {
        let path = target.split('?').next().unwrap_or_default();
        let ours = self.0.options.path.as_str();
        path == ours || path == ours.trim_end_matches('/')
    }

    /// Serves a connection whose first request (already read, with what was read past it)
    /// is for this engine, and the requests after it on the same connection (keep-alive).
    /// Returns the first request that is not for this engine, with what was read past it.
    pub fn serve_connection(
        &self,
        stream: &Arc<TcpStream>,
        request: Request,
        leftover: Vec<u8>,
    ) -> Option<(Request, Vec<u8>)> {
        keep_alive(stream, request, leftover, std::slice::from_ref(self))
    }

    fn socket(&self, sid: &str) -> Option<Socket> {
        lock(&self.0.sessions).get(sid).cloned()
    }

    /// One request; every refusal is answered here.
    fn request(&self, stream: &Arc<TcpStream>, req: &Request, leftover: &mut Vec<u8>) -> Next {
        let options = &self.0.options;
        let Ok(peer) = stream.peer_addr() else {
            return Next::Close;
        };
        let client = proxy::client(peer, &req.headers, &options.trust_proxy);
        let mut cors = Vec::new();
        if let Some(origin) = req.header("Origin") {
            let allowed = options.any_origin || {
                let own = client.own_origin(req.host());
                http::origin_allowed(origin, own.as_deref(), &options.allow_origins)
            };
            if !allowed {
                return refuse(stream, Refusal::Forbidden, &cors);
            }
            cors.push(("Access-Control-Allow-Origin", origin.to_string()));
            cors.push(("Access-Control-Allow-Credentials", "true".to_string()));
        }
        let query = |name| crate::url::query_param(&req.target, name);
        if query("EIO") != Some("4") {
            return refuse(stream, Refusal::UnsupportedProtocolVersion, &cors);
        }
        let transport = match query("transport") {
            Some("polling") => Transport::Polling,
            Some("websocket") => Transport::WebSocket,
            _ => return refuse(stream, Refusal::UnknownTransport, &cors),
        };
        let upgrade = handshake::wants_upgrade(req);
        let method = req.method.as_str();
        match query("sid").filter(|sid| !sid.is_empty()) {
            Some(sid) => {
                let Some(socket) = self.socket(sid) else {
                    return refuse(stream, Refusal::UnknownSid, &cors);
                };
                match (transport, method) {
                    (Transport::WebSocket, "GET") if upgrade => {
                        self.probe(&socket, stream, req, std::mem::take(leftover))
                    }
                    (Transport::Polling, "GET") if !upgrade => self.poll(&socket, stream, &cors),
                    (Transport::Polling, "POST") => {
                        self.post(&socket, stream, req, leftover, &cors)
                    }
                    _ => refuse(stream, Refusal::BadRequest, &cors),
                }
            }
            None if method != "GET" => refuse(stream, Refusal::BadHandshakeMethod, &cors),
            None => match (transport, upgrade) {
                (Transport::Polling, false) => self.open_polling(stream, client.addr, &cors),
                (Transport::WebSocket, true) => {
                    self.open_websocket(stream, client.addr, req, std::mem::take(leftover))
                }
                _ => refuse(stream, Refusal::BadRequest, &cors),
            },
        }
    }

    /// A new session: a fresh sid, the heartbeat's clock started, the application told.
    fn create(
        &self,
        peer: SocketAddr,
        transport: Transport,
        ws: Option<&WsWriter>,
    ) -> Option<(Socket, String)> {
        let options = &self.0.options;
        let sid = crate::rand::url_token(15);
        let weak = Arc::downgrade(&self.0);
        let session = Session {
            sid: sid.clone(),
            peer: Some(peer),
            ping_interval: options.ping_interval,
            ping_timeout: options.ping_timeout,
            budget: options.max_payload,
            state: Mutex::new(State {
                transport,
                closed: None,
                polling: false,
                posting: false,
                upgrading: false,
                probing: false,
                ping_pending: false,
                next_ping: Instant::now() + options.ping_interval,
                pong_deadline: None,
                deadline: None,
                deadline_reason: "connect timeout",
            }),
            changed: Condvar::new(),
            source: self.0.handler.source(),
            feed: Mutex::new(None),
            connection: Mutex::new(None),
            ws: Mutex::new(None),
            delivering: Mutex::new(None),
            forget: Box::new(move |sid| {
                if let Some(shared) = weak.upgrade() {
                    lock(&shared.sessions).remove(sid);
                }
            }),
        };
        let socket = Socket(Arc::new(session));
        {
            let mut sessions = lock(&self.0.sessions);
            if sessions.len() >= options.max_sessions {
                return None;
            }
            sessions.insert(sid.clone(), socket.clone());
        }
        let upgrades = match transport {
            Transport::Polling => vec![Json::from("websocket")],
            Transport::WebSocket => Vec::new(),
        };
        let millis = |d: Duration| Json::from(d.as_millis() as u64);
        let open = Json::object([
            ("sid", sid.as_str().into()),
            ("upgrades", Json::Array(upgrades)),
            ("pingInterval", millis(options.ping_interval)),
            ("pingTimeout", millis(options.ping_timeout)),
            ("maxPayload", (options.max_payload as u64).into()),
        ]);
        let open = Packet::Open(open.to_string()).to_text();
        if let Some(ws) = ws {
            // On WebSocket the open packet is the first frame, before anything the
            // application sends; on polling it is the answer to this request.
            if ws.send(Message::Text(open.clone())).is_err() {
                socket.close_with("transport error");
            }
            *lock(&socket.0.ws) = Some(ws.clone());
        }
        socket.attach(self.0.handler.open(&socket));
        Some((socket, open))
    }

    /// `GET` without a sid: the handshake; the answer is the open packet.
    fn open_polling(&self, stream: &TcpStream, peer: SocketAddr, cors: &[(&str, String)]) -> Next {
        match self.create(peer, Transport::Polling, None) {
            Some((_, open)) => answer(stream, 200, TEXT, cors, open.as_bytes()),
            None => too_many_sessions(stream),
        }
    }

    /// `GET` with a sid: held until there is something to send.
    fn poll(&self, socket: &Socket, stream: &TcpStream, cors: &[(&str, String)]) -> Next {
        let session = &socket.0;
        let mut state = lock(&session.state);
        if state.transport != Transport::Polling {
            // The session moved to its WebSocket: polling it is over (protocol: 400).
            drop(state);
            return refuse(stream, Refusal::BadRequest, cors);
        }
        if state.polling {
            drop(state);
            socket.close_with("overlap from client");
            return refuse(stream, Refusal::BadRequest, cors);
        }
        state.polling = true;
        // Bounded: a closed session wakes us, and the heartbeat closes a silent one.
        let longest = session.ping_interval + session.ping_timeout;
        let mut out = Vec::new();
        loop {
            if state.closed.is_some() || state.deadline.is_some_and(|d| Instant::now() >= d) {
                // What the application said last (a goodbye) still goes, then the close.
                session.source.take(&mut out, session.budget);
                out.push(Packet::Close);
                break;
            }
            if state.upgrading {
                out = vec![Packet::Noop];
                break;
            }
            if state.ping_pending {
                state.ping_pending = false;
                out.push(Packet::Ping(String::new()));
            }
            session.source.take(&mut out, session.budget);
            if let Some(feed) = lock(&session.feed).clone() {
                feed.take(&mut out, session.budget);
            }
            if !out.is_empty() {
                break;
            }
            state = match session.changed.wait_timeout(state, longest) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.polling = false;
        drop(state);
        answer(
            stream,
            200,
            TEXT,
            cors,
            packet::encode_payload(&out).as_bytes(),
        )
    }

    /// `POST` with a sid: the client's packets.
    fn post(
        &self,
        socket: &Socket,
        stream: &TcpStream,
        req: &Request,
        leftover: &mut Vec<u8>,
        cors: &[(&str, String)],
    ) -> Next {
        {
            let mut state = lock(&socket.0.state);
            if state.transport != Transport::Polling {
                drop(state);
                return refuse(stream, Refusal::BadRequest, cors);
            }
            if state.posting {
                drop(state);
                socket.close_with("data request overlap from client");
                return refuse(stream, Refusal::BadRequest, cors);
            }
            state.posting = true;
        }
        let options = &self.0.options;
        let deadline = Instant::now() + options.head_timeout;
        let body = http::read_body(stream, req, leftover, options.max_payload, deadline);
        lock(&socket.0.state).posting = false;
        let body = match body {
            Ok(body) => body,
            Err(e) => {
                socket.close_with(if e.status == 413 {
                    "payload too large"
                } else {
                    "transport error"
                });
                return plain(stream, &e);
            }
        };
        let packets = match packet::decode_payload(&body) {
            Ok(packets) => packets,
            Err(_) => {
                socket.close_with("parse error");
                return refuse(stream, Refusal::BadRequest, cors);
            }
        };
        for packet in packets {
            if socket.receive(packet).is_err() {
                socket.close_with("parse error");
                return refuse(stream, Refusal::BadRequest, cors);
            }
        }
        answer(stream, 200, TEXT, cors, b"ok")
    }

    /// Answers the WebSocket handshake (RFC 6455 §4.2.2) with this engine's frame limits.
    fn accept_websocket(
        &self,
        stream: &Arc<TcpStream>,
        req: &Request,
        leftover: Vec<u8>,
    ) -> Option<(WsReader, WsWriter)> {
        let key = match handshake::check_request(req) {
            Ok(key) => key,
            Err(e) => {
                let headers = handshake::refusal_headers(e.status);
                let body = format!("{}\n", e.reason);
                let _ = http::write_response(&mut &**stream, e.status, headers, body.as_bytes());
                return None;
            }
        };
        (&**stream)
            .write_all(&handshake::response_101(&key, None))
            .ok()?;
        let _ = stream.set_nodelay(true);
        if let Some(timeout) = self.0.options.websocket_write_timeout {
            let _ = stream.set_write_timeout(Some(timeout));
        }
        let max = self.0.options.max_payload;
        let limits = ws::Config {
            max_frame_size: max,
            max_message_size: max,
            ..ws::Config::default()
        };
        Some(ws::split_shared(
            stream.clone(),
            Role::Server,
            leftover,
            limits,
        ))
    }

    /// `GET …transport=websocket` without a sid: a session on WebSocket from the start.
    fn open_websocket(
        &self,
        stream: &Arc<TcpStream>,
        peer: SocketAddr,
        req: &Request,
        leftover: Vec<u8>,
    ) -> Next {
        if self.session_count() >= self.0.options.max_sessions {
            return too_many_sessions(stream);
        }
        let Some((reader, writer)) = self.accept_websocket(stream, req, leftover) else {
            return Next::Close;
        };
        match self.create(peer, Transport::WebSocket, Some(&writer)) {
            Some((socket, _)) => websocket(&socket, reader, &writer),
            None => {
                let _ = writer.close(1013, "too many sessions");
            }
        }
        Next::Done
    }

    /// `GET …transport=websocket&sid=…`: the upgrade of a polling session. The client probes
    /// (`2probe` → `3probe`), the held poll is ended with a noop, the client says `5`, and from
    /// then on the session's packets go over the WebSocket.
    fn probe(
        &self,
        socket: &Socket,
        stream: &Arc<TcpStream>,
        req: &Request,
        leftover: Vec<u8>,
    ) -> Next {
        {
            let mut state = lock(&socket.0.state);
            if state.transport != Transport::Polling || state.probing {
                drop(state);
                return refuse(stream, Refusal::BadRequest, &[]);
            }
            state.probing = true;
        }
        let upgraded = self
            .accept_websocket(stream, req, leftover)
            .and_then(|(reader, writer)| self.finish_probe(socket, stream, reader, writer));
        let mut state = lock(&socket.0.state);
        state.probing = false;
        if state.upgrading {
            // The probe failed after it had begun: polling goes on.
            state.upgrading = false;
            socket.0.changed.notify_all();
        }
        drop(state);
        match upgraded {
            Some((reader, writer)) => websocket(socket, reader, &writer),
            None => {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
        Next::Done
    }

    /// Reads the probe and the upgrade packet; on success the session now uses this WebSocket.
    fn finish_probe(
        &self,
        socket: &Socket,
        stream: &TcpStream,
        mut reader: WsReader,
        writer: WsWriter,
    ) -> Option<(WsReader, WsWriter)> {
        let deadline = Instant::now() + self.0.options.upgrade_timeout;
        let mut probed = false;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() || socket.is_closed() {
                return None;
            }
            stream.set_read_timeout(Some(left)).ok()?;
            match reader.read() {
                Ok(Message::Text(text)) if text == "2probe" && !probed => {
                    writer
                        .send(Message::Text(Packet::Pong("probe".into()).to_text()))
                        .ok()?;
                    probed = true;
                    let mut state = lock(&socket.0.state);
                    state.upgrading = true;
                    socket.0.changed.notify_all();
                }
                Ok(Message::Text(text)) if text == "5" && probed => break,
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Err(Error::Io(e)) if is_timeout(&e) => {}
                _ => return None,
            }
        }
        {
            let mut state = lock(&socket.0.state);
            state.transport = Transport::WebSocket;
            state.upgrading = false;
            if state.ping_pending {
                // The ping the last poll could not carry goes out on the WebSocket now.
                state.ping_pending = false;
                state.pong_deadline = None;
                state.next_ping = Instant::now();
            }
            socket.0.changed.notify_all();
        }
        *lock(&socket.0.ws) = Some(writer.clone());
        // What waited for the next poll goes out first.
        socket.flush_ws();
        socket.upgraded();
        Some((reader, writer))
    }
}

/// The WebSocket transport: reads packets until the session ends, and pings on time.
fn websocket(socket: &Socket, mut reader: WsReader, writer: &WsWriter) {
    loop {
        let now = Instant::now();
        let until = match socket.beat(now, true) {
            Beat::Close(reason) => {
                socket.close_with(reason);
                break;
            }
            Beat::Ping(until) => {
                let ping = session::ws_message(Packet::Ping(String::new()));
                if !session::sent(writer.send(ping), writer) {
                    socket.close_with("transport error");
                    break;
                }
                until
            }
            Beat::Until(until) => until,
        };
        if socket.is_closed() {
            break;
        }
        let wait = until
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        if reader.get_ref().set_read_timeout(Some(wait)).is_err() {
            socket.close_with("transport error");
            break;
        }
        let received = match reader.read() {
            Ok(Message::Text(text)) => Packet::decode_text(&text)
                .map_err(|e| e.0)
                .and_then(|packet| socket.receive(packet)),
            Ok(Message::Binary(bytes)) => socket.receive(Packet::Message(Data::Binary(bytes))),
            Ok(Message::Ping(_) | Message::Pong(_)) => Ok(()),
            Ok(Message::Close(_)) => {
                socket.close_with("transport close");
                break;
            }
            Err(Error::Io(e)) if is_timeout(&e) => Ok(()),
            Err(_) => {
                socket.close_with("transport error");
                break;
            }
        };
        if received.is_err() {
            socket.close_with("parse error");
            break;
        }
    }
    let _ = writer.shutdown();
}

/// The heartbeat thread: pings polling sessions through their next poll and closes the ones
/// whose pong (or connect deadline) passed. Ends when the engine is gone.
fn heartbeat(shared: &Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let options = &shared.options;
        let mut next = now + BEAT_AT_LEAST.min(options.ping_interval);
        let soonest =
            now + (options.ping_timeout / BEATS_PER_TIMEOUT).max(Duration::from_millis(1));
        let sockets: Vec<Socket> = lock(&shared.sessions).values().cloned().collect();
        drop(shared);
        for socket in sockets {
            match socket.beat(now, false) {
                Beat::Close(reason) => socket.close_with(reason),
                Beat::Until(at) | Beat::Ping(at) => next = next.min(at),
            }
        }
        thread::sleep(next.max(soonest).saturating_duration_since(Instant::now()));
    }
}

/// Serves Engine.IO on `listener` until `stopping` is set (and one more connection wakes the
/// accept loop): a thread per connection, each request routed to the engine whose path it
/// names; other paths get 404.
pub fn serve(listener: &TcpListener, engines: &[Engine], stopping: &AtomicBool) {
    let Some(first) = engines.first() else {
        return;
    };
    let log = Log {
        quiet: first.0.options.quiet,
    };
    let slots = Slots::new(first.0.options.max_connections);
    accept_loop(listener, stopping, "engine.io", log, |stream, peer| {
        let Some(slot) = slots.try_take() else {
            let _ = http::write_response(&mut &stream, 503, &[], b"503 too many connections\n");
            return;
        };
        let engines = engines.to_vec();
        let work = move || {
            let _slot = slot;
            connection(stream, &engines);
        };
        if let Err(e) = spawn_connection("engine.io", peer, log, work) {
            log.line(format_args!("engine.io: no thread for {peer}: {e}"));
        }
    });
}

/// One TCP connection: its first request, then the ones after it while it is kept alive.
fn connection(stream: TcpStream, engines: &[Engine]) {
    let Some(first) = engines.first() else {
        return;
    };
    let options = &first.0.options;
    let stream = Arc::new(stream);
    let _ = stream.set_write_timeout(Some(options.write_timeout));
    let unserved = match http::read_request_head(&stream, options.max_head, options.head_timeout) {
        Ok((request, leftover)) => keep_alive(&stream, request, leftover, engines),
        Err(e) => {
            plain(&stream, &e);
            return http::close_after_response(&stream);
        }
    };
    if unserved.is_some() {
        plain(&stream, &HttpError::new(404, "nothing here"));
        http::close_after_response(&stream);
    }
}

/// Serves requests on one connection while they are for one of `engines`; returns the first
/// that is not (with what was read past it), or `None` once the connection is done.
fn keep_alive(
    stream: &Arc<TcpStream>,
    first: Request,
    leftover: Vec<u8>,
    engines: &[Engine],
) -> Option<(Request, Vec<u8>)> {
    let (mut request, mut leftover) = (first, leftover);
    loop {
        let Some(engine) = engines.iter().find(|e| e.serves(&request.target)) else {
            return Some((request, leftover));
        };
        let options = &engine.0.options;
        let _ = stream.set_write_timeout(Some(options.write_timeout));
        match engine.request(stream, &request, &mut leftover) {
            Next::KeepAlive if http::wants_keep_alive(&request) => {}
            Next::Done => return None,
            _ => {
                http::close_after_response(stream);
                return None;
            }
        }
        // A polling client asks again at once; one that waits longer than a ping period
        // is not polling.
        let idle = options.ping_interval + options.ping_timeout;
        let limit = options.max_head;
        match http::next_request(stream, leftover, limit, idle, options.head_timeout) {
            Ok(Some(next)) => (request, leftover) = next,
            Ok(None) => return None,
            Err(e) => {
                plain(stream, &e);
                http::close_after_response(stream);
                return None;
            }
        }
    }
}

const TEXT: &str = "text/plain; charset=UTF-8";

/// A 200 answer on a kept-alive connection.
fn answer(
    stream: &TcpStream,
    status: u16,
    content_type: &str,
    cors: &[(&str, String)],
    body: &[u8],
) -> Next {
    let mut headers = vec![("Content-Type", content_type)];
    headers.extend(cors.iter().map(|(name, value)| (*name, value.as_str())));
    match http::write_response_keep_alive(&mut &*stream, status, &headers, body) {
        Ok(()) => Next::KeepAlive,
        Err(_) => Next::Close,
    }
}

/// The protocol's error answer: `{"code":N,"message":"…"}`, then the connection closes.
fn refuse(stream: &TcpStream, why: Refusal, cors: &[(&str, String)]) -> Next {
    let body = Json::object([
        ("code", Json::from(why as u64)),
        ("message", why.message().into()),
    ]);
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(cors.iter().map(|(name, value)| (*name, value.as_str())));
    let _ = http::write_response(
        &mut &*stream,
        why.status(),
        &headers,
        body.to_string().as_bytes(),
    );
    Next::Close
}

/// A plain-text HTTP error (a bad head, a body over the limit), then the connection closes.
fn plain(stream: &TcpStream, e: &HttpError) -> Next {
    let headers = [("Content-Type", "text/plain; charset=utf-8")];
    let body = format!("{} {}\n", e.status, e.reason);
    let _ = http::write_response(&mut &*stream, e.status, &headers, body.as_bytes());
    Next::Close
}

fn too_many_sessions(stream: &TcpStream) -> Next {
    plain(
        stream,
        &HttpError::new(503, "too many sessions; try again later"),
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
