//! Engine.IO over 127.0.0.1, as clients that do it right and clients that do not: a polling
//! session on one kept-alive connection, the upgrade to WebSocket, the heartbeat, and every
//! refusal the protocol names (JSON 400s, 403, 413, a bad packet, two GETs at once, a client
//! that vanishes) — while a witness session keeps echoing.

mod common;

use common::PATIENCE;
use common::polling::HttpClient as Client;
use plainsock::engineio::{self, Connection, Data, Engine, Handler, Packet, Socket, packet};
use plainsock::json::{self, Json};
use plainsock::socketio;
use plainsock::ws::{self, Message, WebSocket};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

const MAX_PAYLOAD: usize = 100_000;

/// Echoes every message, and reports every session's end as `(sid, reason)`.
struct Echo(Mutex<Sender<(String, String)>>);

struct EchoConnection(Sender<(String, String)>);

impl Handler for Echo {
    fn open(&self, socket: &Socket) -> Box<dyn Connection> {
        let peer = socket.peer_addr().expect("the handshake's address");
        assert!(peer.ip().is_loopback(), "{peer}");
        let ended = self.0.lock().unwrap().clone();
        Box::new(EchoConnection(ended))
    }
}

impl Connection for EchoConnection {
    fn message(&mut self, socket: &Socket, data: Data) {
        socket.send(data);
    }

    fn close(&mut self, socket: &Socket, reason: &str) {
        let _ = self.0.send((socket.sid().to_string(), reason.to_string()));
    }
}

/// An echo engine on a free port, served until dropped.
struct Fixture {
    addr: SocketAddr,
    engine: Engine,
    ended: Receiver<(String, String)>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// Slow heartbeats, so nothing here times out by accident on a busy machine.
fn fixture() -> Fixture {
    fixture_with(|_| {})
}

fn fixture_with(tune: impl FnOnce(&mut engineio::Options)) -> Fixture {
    let mut options = engineio::Options {
        ping_interval: Duration::from_secs(30),
        ping_timeout: Duration::from_secs(30),
        max_payload: MAX_PAYLOAD,
        quiet: true,
        ..engineio::Options::default()
    };
    tune(&mut options);
    let (tx, ended) = mpsc::channel();
    let engine = Engine::new(options, Echo(Mutex::new(tx))).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stopping = Arc::new(AtomicBool::new(false));
    let (served, stop) = (engine.clone(), stopping.clone());
    let accept = thread::spawn(move || engineio::serve(&listener, &[served], &stop));
    Fixture {
        addr,
        engine,
        ended,
        stopping,
        accept: Some(accept),
    }
}

impl Fixture {
    /// The next session end, as `(sid, reason)`.
    fn next_end(&self, within: Duration) -> (String, String) {
        self.ended
            .recv_timeout(within)
            .expect("a session ends in time")
    }

    /// Waits for `sid`'s end and returns its reason.
    fn end_of(&self, sid: &str) -> String {
        for _ in 0..1000 {
            let (ended, reason) = self.next_end(PATIENCE);
            if ended == sid {
                return reason;
            }
        }
        panic!("{sid} never ended");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn polling(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
}

/// The handshake: a new polling session; its open packet's fields.
fn open(client: &mut Client) -> (String, Json) {
    let reply = client.request("GET", "/engine.io/?EIO=4&transport=polling", b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let text = reply.text();
    let handshake = text.strip_prefix('0').expect("an open packet");
    let handshake = json::parse(handshake).unwrap();
    let sid = handshake.get("sid").as_str().expect("a sid").to_string();
    (sid, handshake)
}

fn poll(client: &mut Client, sid: &str) -> Vec<Packet> {
    let reply = client.request("GET", &polling(sid), b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    packet::decode_payload(&reply.body).expect("a payload")
}

fn text(s: &str) -> Packet {
    Packet::Message(Data::Text(s.into()))
}

/// A well-behaved session on its own connections: it must still echo.
struct Witness {
    get: Client,
    post: Client,
    sid: String,
}

impl Witness {
    fn join(f: &Fixture) -> Witness {
        let mut get = Client::connect(f.addr);
        let (sid, _) = open(&mut get);
        Witness {
            get,
            post: Client::connect(f.addr),
            sid,
        }
    }

    fn still_echoes(&mut self) {
        let line = format!("4witness {}", self.sid);
        let reply = self
            .post
            .request("POST", &polling(&self.sid), line.as_bytes());
        assert_eq!(reply.text(), "ok");
        assert_eq!(poll(&mut self.get, &self.sid), vec![text(&line[1..])]);
    }
}

#[test]
fn a_polling_session_echoes_on_kept_alive_connections() {
    let f = fixture();
    let mut get = Client::connect(f.addr);
    let (sid, handshake) = open(&mut get);
    assert_eq!(sid.len(), 20);
    assert_eq!(
        handshake.get("upgrades"),
        &Json::Array(vec!["websocket".into()])
    );
    assert_eq!(handshake.get("pingInterval").as_u64(), Some(30_000));
    assert_eq!(handshake.get("pingTimeout").as_u64(), Some(30_000));
    assert_eq!(
        handshake.get("maxPayload").as_u64(),
        Some(MAX_PAYLOAD as u64)
    );
    let mut post = Client::connect(f.addr);
    for round in 0..3 {
        // Text and binary (base64 in a payload), on the same two connections each round.
        let reply = post.request("POST", &polling(&sid), b"4hello\x1ebAQID");
        assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
        assert_eq!(reply.response.header("Connection"), Some("keep-alive"));
        let echoed = poll(&mut get, &sid);
        let binary = Packet::Message(Data::Binary(vec![1, 2, 3]));
        assert_eq!(echoed, vec![text("hello"), binary], "round {round}");
    }
    assert_eq!(f.engine.session_count(), 1);
}

#[test]
fn bad_queries_get_the_protocols_json_errors() {
    let f = fixture();
    let mut witness = Witness::join(&f);
    let cases: &[(&str, &str, (u16, u64, &str))] = &[
        (
            "GET",
            "/engine.io/",
            (400, 5, "Unsupported protocol version"),
        ),
        (
            "GET",
            "/engine.io/?EIO=3&transport=polling",
            (400, 5, "Unsupported protocol version"),
        ),
        ("GET", "/engine.io/?EIO=4", (400, 0, "Transport unknown")),
        (
            "GET",
            "/engine.io/?EIO=4&transport=flash",
            (400, 0, "Transport unknown"),
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=polling&sid=unknown",
            (400, 1, "Session ID unknown"),
        ),
        (
            "POST",
            "/engine.io/?EIO=4&transport=polling&sid=unknown",
            (400, 1, "Session ID unknown"),
        ),
        (
            "POST",
            "/engine.io/?EIO=4&transport=polling",
            (400, 2, "Bad handshake method"),
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=websocket",
            (400, 3, "Bad request"),
        ),
    ];
    for (method, target, want) in cases {
        let mut client = Client::connect(f.addr);
        let reply = client.request(method, target, b"");
        let (status, code, message) = reply.error();
        assert_eq!((status, code, message.as_str()), *want, "{method} {target}");
        assert_eq!(
            reply.response.header("Content-Type"),
            Some("application/json")
        );
        assert!(client.closed(), "{method} {target}: the connection closes");
    }
    let mut client = Client::connect(f.addr);
    assert_eq!(client.request("GET", "/elsewhere", b"").status, 404);
    witness.still_echoes();
}

#[test]
fn a_bad_packet_closes_the_session() {
    let f = fixture();
    let mut witness = Witness::join(&f);
    for body in [
        &b"9"[..],
        b"4a\x1e",
        b"\x1e",
        b"b!!!",
        b"4\xff",
        b"0{}",
        b"2",
        b"5",
        b"",
    ] {
        let mut client = Client::connect(f.addr);
        let (sid, _) = open(&mut client);
        let reply = client.request("POST", &polling(&sid), body);
        let shown = String::from_utf8_lossy(body);
        assert_eq!(reply.error(), (400, 3, "Bad request".into()), "{shown:?}");
        assert_eq!(f.end_of(&sid), "parse error", "{shown:?}");
        let mut again = Client::connect(f.addr);
        let reply = again.request("GET", &polling(&sid), b"");
        assert_eq!(reply.error().1, 1, "{shown:?}: the sid is forgotten");
    }
    witness.still_echoes();
}

#[test]
fn ten_thousand_packets_in_one_post_come_back_in_order() {
    let f = fixture();
    let mut get = Client::connect(f.addr);
    let (sid, _) = open(&mut get);
    let sent: Vec<Packet> = (0..10_000).map(|i| text(&i.to_string())).collect();
    let body = packet::encode_payload(&sent);
    let mut post = Client::connect(f.addr);
    assert_eq!(
        post.request("POST", &polling(&sid), body.as_bytes()).text(),
        "ok"
    );
    let mut got = Vec::new();
    for _ in 0..10_000 {
        if got.len() >= sent.len() {
            break;
        }
        got.extend(poll(&mut get, &sid));
    }
    assert_eq!(got, sent);
}

#[test]
fn a_payload_over_max_payload_is_413_and_closes_the_session() {
    let f = fixture();
    let mut witness = Witness::join(&f);
    // Declared far too large: refused before a byte of it is read.
    let mut raw = Client::connect(f.addr);
    let (sid, _) = open(&mut raw);
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000000000000\r\n\r\n",
        polling(&sid)
    );
    raw.stream.write_all(head.as_bytes()).unwrap();
    assert_eq!(raw.reply().status, 413);
    assert_eq!(f.end_of(&sid), "payload too large");
    assert!(raw.closed());
    // Chunked, one byte over the limit.
    let mut chunked = Client::connect(f.addr);
    let (sid3, _) = open(&mut chunked);
    let mut body = format!("{:x}\r\n4", MAX_PAYLOAD).into_bytes();
    body.extend(vec![b'x'; MAX_PAYLOAD - 1]);
    body.extend_from_slice(b"\r\n1\r\n!\r\n0\r\n\r\n");
    let reply = {
        chunked.send(
            "POST",
            &polling(&sid3),
            &[("Transfer-Encoding", "chunked")],
            &body,
        );
        chunked.reply()
    };
    assert_eq!(reply.status, 413);
    assert_eq!(f.end_of(&sid3), "payload too large");
    witness.still_echoes();
}

#[test]
fn a_chunked_body_is_read() {
    let f = fixture();
    let mut get = Client::connect(f.addr);
    let (sid, _) = open(&mut get);
    let mut post = Client::connect(f.addr);
    let body = b"4\r\n4hel\r\n6\r\nlo\x1e4 w\r\n0\r\n\r\n";
    post.send(
        "POST",
        &polling(&sid),
        &[("Transfer-Encoding", "chunked")],
        body,
    );
    assert_eq!(post.reply().text(), "ok");
    assert_eq!(poll(&mut get, &sid), vec![text("hello"), text(" w")]);
}

#[test]
fn two_gets_at_once_are_400_and_close_the_session() {
    let f = fixture();
    let mut witness = Witness::join(&f);
    let mut first = Client::connect(f.addr);
    let (sid, _) = open(&mut first);
    let mut second = Client::connect(f.addr);
    first.send("GET", &polling(&sid), &[], b"");
    second.send("GET", &polling(&sid), &[], b"");
    // Whichever the server saw second is refused; the held one ends with the close packet.
    let mut replies = [first.reply(), second.reply()];
    replies.sort_by_key(|r| r.status);
    assert_eq!((replies[0].status, replies[0].text().as_str()), (200, "1"));
    assert_eq!(replies[1].error(), (400, 3, "Bad request".into()));
    assert_eq!(f.end_of(&sid), "overlap from client");
    witness.still_echoes();
}

#[test]
fn a_foreign_origin_is_403_and_our_own_pages_are_served() {
    let f = fixture();
    let mut client = Client::connect(f.addr);
    let handshake = "/engine.io/?EIO=4&transport=polling";
    client.send("GET", handshake, &[("Origin", "http://evil.example")], b"");
    let reply = client.reply();
    assert_eq!(reply.error(), (403, 4, "Forbidden".into()));
    let mut client = Client::connect(f.addr);
    client.send("GET", handshake, &[("Origin", "http://test")], b"");
    let reply = client.reply();
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.response.header("Access-Control-Allow-Origin"),
        Some("http://test")
    );
    // A server that lets any page in (the compliance echo server does).
    let open_door = fixture_with(|o| o.any_origin = true);
    let mut client = Client::connect(open_door.addr);
    client.send("GET", handshake, &[("Origin", "http://evil.example")], b"");
    assert_eq!(client.reply().status, 200);
}

#[test]
fn pings_reach_a_polling_client_and_its_pongs_keep_the_session() {
    let f = fixture_with(|o| {
        o.ping_interval = Duration::from_millis(50);
        o.ping_timeout = Duration::from_secs(5);
    });
    let mut get = Client::connect(f.addr);
    let (sid, _) = open(&mut get);
    let mut post = Client::connect(f.addr);
    for _ in 0..5 {
        // The held poll is answered when the ping is due, with the ping.
        assert_eq!(poll(&mut get, &sid), vec![Packet::Ping(String::new())]);
        assert_eq!(post.request("POST", &polling(&sid), b"3").text(), "ok");
    }
    assert_eq!(f.engine.session_count(), 1);
}

#[test]
fn a_client_that_stops_polling_is_closed_by_the_heartbeat() {
    let f = fixture_with(|o| {
        o.ping_interval = Duration::from_millis(100);
        o.ping_timeout = Duration::from_millis(200);
    });
    let mut witness_conn = Client::connect(f.addr);
    let (sid, _) = open(&mut witness_conn);
    // Never polls, never pongs.
    assert_eq!(f.end_of(&sid), "ping timeout");
    assert_eq!(f.engine.session_count(), 0);
}

#[test]
fn a_long_poll_whose_client_vanishes_is_closed_by_the_heartbeat() {
    let f = fixture_with(|o| {
        o.ping_interval = Duration::from_millis(100);
        o.ping_timeout = Duration::from_millis(200);
    });
    let mut client = Client::connect(f.addr);
    let (sid, _) = open(&mut client);
    client.send("GET", &polling(&sid), &[], b"");
    drop(client);
    assert_eq!(f.end_of(&sid), "ping timeout");
    assert_eq!(f.engine.session_count(), 0);
}

fn websocket(addr: SocketAddr, query: &str) -> WebSocket<TcpStream> {
    let url = format!("ws://{addr}/engine.io/?EIO=4&transport=websocket{query}");
    let socket = ws::client::connect(&url).unwrap();
    socket.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

fn read_text(socket: &mut WebSocket<TcpStream>) -> String {
    match socket.read().unwrap() {
        Message::Text(text) => text,
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn a_polling_session_upgrades_to_websocket() {
    let f = fixture();
    let mut get = Client::connect(f.addr);
    let (sid, _) = open(&mut get);
    get.send("GET", &polling(&sid), &[], b"");
    let mut socket = websocket(f.addr, &format!("&sid={sid}"));
    socket.send(Message::Text("2probe".into())).unwrap();
    assert_eq!(read_text(&mut socket), "3probe");
    // The held poll is ended with a noop, so the client can pause polling.
    assert_eq!(get.reply().text(), "6");
    // A message posted during the upgrade waits, and comes on the WebSocket.
    let mut post = Client::connect(f.addr);
    assert_eq!(
        post.request("POST", &polling(&sid), b"4queued").text(),
        "ok"
    );
    socket.send(Message::Text("5".into())).unwrap();
    assert_eq!(read_text(&mut socket), "4queued");
    socket.send(Message::Text("4over ws".into())).unwrap();
    assert_eq!(read_text(&mut socket), "4over ws");
    socket.send(Message::Binary(vec![0, 255])).unwrap();
    assert_eq!(socket.read().unwrap(), Message::Binary(vec![0, 255]));
    // Polling this session is over.
    let reply = Client::connect(f.addr).request("GET", &polling(&sid), b"");
    assert_eq!(reply.error(), (400, 3, "Bad request".into()));
    socket.send(Message::Text("1".into())).unwrap();
    assert_eq!(f.end_of(&sid), "client close");
}

#[test]
fn a_session_can_start_on_websocket() {
    let f = fixture();
    let mut socket = websocket(f.addr, "");
    let first = read_text(&mut socket);
    let handshake = json::parse(first.strip_prefix('0').expect("open first")).unwrap();
    assert_eq!(handshake.get("upgrades"), &Json::Array(Vec::new()));
    let sid = handshake.get("sid").as_str().unwrap().to_string();
    socket.send(Message::Text("4é 😀".into())).unwrap();
    assert_eq!(read_text(&mut socket), "4é 😀");
    // A bad packet ends it, as on polling.
    socket.send(Message::Text("9".into())).unwrap();
    assert_eq!(f.end_of(&sid), "parse error");
}

#[test]
fn a_websocket_client_that_does_not_pong_is_closed() {
    let f = fixture_with(|o| {
        o.ping_interval = Duration::from_millis(50);
        o.ping_timeout = Duration::from_millis(100);
    });
    let mut socket = websocket(f.addr, "");
    let first = read_text(&mut socket);
    let sid = json::parse(&first[1..])
        .unwrap()
        .get("sid")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(read_text(&mut socket), "2", "the server pings");
    assert_eq!(f.end_of(&sid), "ping timeout");
}

#[test]
fn sessions_over_the_cap_get_503() {
    let f = fixture_with(|o| o.max_sessions = 3);
    let mut held: Vec<(Client, String)> = (0..3)
        .map(|_| {
            let mut client = Client::connect(f.addr);
            let (sid, _) = open(&mut client);
            (client, sid)
        })
        .collect();
    let mut extra = Client::connect(f.addr);
    let reply = extra.request("GET", "/engine.io/?EIO=4&transport=polling", b"");
    assert_eq!(reply.status, 503);
    // One leaves (the close packet), and there is room again.
    let (mut client, sid) = held.remove(0);
    assert_eq!(client.request("POST", &polling(&sid), b"1").text(), "ok");
    assert_eq!(f.end_of(&sid), "client close");
    let mut again = Client::connect(f.addr);
    open(&mut again);
    // Shutting down ends them all, and the application hears of each.
    f.engine.close_all();
    for _ in 0..3 {
        assert_eq!(f.next_end(PATIENCE).1, "server shutting down");
    }
    let (mut client, sid) = held.remove(0);
    assert_eq!(client.request("GET", &polling(&sid), b"").error().1, 1);
    assert_eq!(f.engine.session_count(), 0);
}

// Socket.IO on top: the handshake, events and acks, binary attachments, refusals.

/// Records what the application saw; acks every event that asks, with its arguments.
struct Recorder(Mutex<Sender<String>>);

impl socketio::App for Recorder {
    fn has_namespace(&self, nsp: &str) -> bool {
        nsp == "/" || nsp == "/custom"
    }

    fn connect(&self, _client: &socketio::Client, nsp: &str, auth: &Json) {
        let _ = self.0.lock().unwrap().send(format!("connect {nsp} {auth}"));
    }

    fn packet(&self, client: &socketio::Client, packet: socketio::Packet) {
        let seen = format!("{} +{}", packet.encode(), packet.attachments.len());
        let _ = self.0.lock().unwrap().send(seen);
        if let Some(id) = packet.id {
            let args = packet.args().to_vec();
            client.send(&socketio::Packet::ack(
                &packet.nsp,
                id,
                args,
                packet.attachments,
            ));
        }
    }

    fn disconnect(&self, _client: &socketio::Client, nsp: &str, reason: &str) {
        let _ = self
            .0
            .lock()
            .unwrap()
            .send(format!("disconnect {nsp} {reason}"));
    }
}

struct SocketIo {
    addr: SocketAddr,
    seen: Receiver<String>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl SocketIo {
    fn start() -> SocketIo {
        let options = engineio::Options {
            path: "/socket.io/".into(),
            ping_interval: Duration::from_secs(30),
            ping_timeout: Duration::from_secs(30),
            quiet: true,
            ..engineio::Options::default()
        };
        let (tx, seen) = mpsc::channel();
        let app = socketio::Server::new(
            Recorder(Mutex::new(tx)),
            socketio::Options {
                connect_timeout: Duration::from_millis(300),
                ..socketio::Options::default()
            },
        );
        let engine = Engine::new(options, app).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let accept = thread::spawn(move || engineio::serve(&listener, &[engine], &stop));
        SocketIo {
            addr,
            seen,
            stopping,
            accept: Some(accept),
        }
    }

    fn seen(&self) -> String {
        self.seen.recv_timeout(PATIENCE).expect("the app sees it")
    }

    /// A polling session on `/socket.io/`, and the connections it polls and posts on.
    fn session(&self) -> (Client, Client, String) {
        let mut get = Client::connect(self.addr);
        let reply = get.request("GET", "/socket.io/?EIO=4&transport=polling", b"");
        let handshake = json::parse(&reply.text()[1..]).unwrap();
        let sid = handshake.get("sid").as_str().unwrap().to_string();
        (get, Client::connect(self.addr), sid)
    }
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.addr, PATIENCE);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn sio(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=polling&sid={sid}")
}

fn sio_poll(get: &mut Client, sid: &str) -> Vec<Packet> {
    let reply = get.request("GET", &sio(sid), b"");
    packet::decode_payload(&reply.body).expect("a payload")
}

#[test]
fn socketio_connects_and_acks_events_with_binary_attachments() {
    let server = SocketIo::start();
    let (mut get, mut post, sid) = server.session();
    assert_eq!(
        post.request("POST", &sio(&sid), br#"40{"token":"a"}"#)
            .text(),
        "ok"
    );
    let joined = sio_poll(&mut get, &sid);
    let Some(Packet::Message(Data::Text(connect))) = joined.first() else {
        panic!("expected CONNECT, got {joined:?}");
    };
    let reply = json::parse(connect.strip_prefix('0').expect("CONNECT")).unwrap();
    assert_eq!(reply.get("sid").as_str().map(str::len), Some(20));
    assert_eq!(server.seen(), r#"connect / {"token":"a"}"#);
    // An event that asks for ack 7, answered with its arguments (those after its name).
    assert_eq!(
        post.request("POST", &sio(&sid), br#"427["hi",1]"#).text(),
        "ok"
    );
    assert_eq!(server.seen(), r#"27["hi",1] +0"#);
    // (Each Socket.IO packet rides in an Engine.IO message: `4` + `37[1]` on the wire.)
    assert_eq!(sio_poll(&mut get, &sid), vec![text("37[1]")]);
    // A binary event: the placeholder's buffer is the next message (base64 in polling).
    let event = "451-8[\"bin\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID";
    assert_eq!(
        post.request("POST", &sio(&sid), event.as_bytes()).text(),
        "ok"
    );
    assert_eq!(
        server.seen(),
        r#"51-8["bin",{"_placeholder":true,"num":0}] +1"#
    );
    let binary_ack = sio_poll(&mut get, &sid);
    assert_eq!(
        binary_ack,
        vec![
            text(r#"61-8[{"_placeholder":true,"num":0}]"#),
            Packet::Message(Data::Binary(vec![1, 2, 3])),
        ]
    );
    // DISCONNECT leaves the namespace.
    assert_eq!(post.request("POST", &sio(&sid), b"41").text(), "ok");
    assert_eq!(server.seen(), "disconnect / client namespace disconnect");
}

#[test]
fn socketio_refuses_unknown_namespaces_and_closes_on_broken_packets() {
    let server = SocketIo::start();
    let (mut get, mut post, sid) = server.session();
    assert_eq!(post.request("POST", &sio(&sid), b"40/nope,").text(), "ok");
    assert_eq!(
        sio_poll(&mut get, &sid),
        vec![text(r#"4/nope,{"message":"Invalid namespace"}"#)]
    );
    assert_eq!(post.request("POST", &sio(&sid), b"40/custom,").text(), "ok");
    assert!(
        matches!(&sio_poll(&mut get, &sid)[..], [Packet::Message(Data::Text(t))] if t.starts_with("0/custom,{\"sid\":"))
    );
    assert_eq!(server.seen(), "connect /custom {}");
    // An event whose payload is not an array: the whole connection ends.
    assert_eq!(
        post.request("POST", &sio(&sid), b"42/custom,{}").text(),
        "ok"
    );
    assert_eq!(server.seen(), "disconnect /custom server close");
    let after = get.request("GET", &sio(&sid), b"");
    assert_eq!(after.error().1, 1, "the session is gone");
}

#[test]
fn socketio_closes_a_client_that_joins_no_namespace_in_time() {
    let server = SocketIo::start();
    let (mut get, _post, sid) = server.session();
    // The held poll ends with the close packet when the connect timeout (300 ms) passes.
    assert_eq!(sio_poll(&mut get, &sid), vec![Packet::Close]);
}
