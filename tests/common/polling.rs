//! HTTP/1.1 on one kept-alive connection, and a chat member over Engine.IO long polling (what
//! the page's fallback and `socket.io-client` with `transports: ["polling"]` do), every read
//! with a timeout.

use super::PATIENCE;
use plainsock::engineio::{Data, Packet, packet};
use plainsock::http;
use plainsock::json::{self, Json};
use std::collections::VecDeque;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// An HTTP/1.1 client on one connection.
pub struct HttpClient {
    pub stream: TcpStream,
    leftover: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub response: http::Response,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Json {
        json::parse(&self.text()).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// Engine.IO's error body, `{"code":N,"message":"…"}`.
    pub fn error(&self) -> (u16, u64, String) {
        let body = self.json();
        let code = body.get("code").as_u64().expect("a code");
        let message = body.get("message").as_str().expect("a message").to_string();
        (self.status, code, message)
    }
}

impl HttpClient {
    pub fn connect(addr: SocketAddr) -> HttpClient {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        HttpClient {
            stream,
            leftover: Vec::new(),
        }
    }

    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut out = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        if method == "POST" && !headers.iter().any(|(n, _)| *n == "Transfer-Encoding") {
            out.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).unwrap();
    }

    pub fn reply(&mut self) -> Reply {
        let deadline = Instant::now() + PATIENCE;
        let already = std::mem::take(&mut self.leftover);
        let (head, mut rest) = match http::read_head_after(&self.stream, already, 65536, deadline) {
            Ok(parts) => parts,
            Err(e) => panic!("no answer: {e:?}"),
        };
        let response = http::parse_response(&head).unwrap();
        let length: usize = response
            .header("Content-Length")
            .and_then(|n| n.parse().ok())
            .expect("a Content-Length");
        let request = http::Request {
            method: "POST".into(),
            target: "/".into(),
            version: http::Version::Http11,
            headers: vec![("Content-Length".into(), length.to_string())],
        };
        let body = http::read_body(&self.stream, &request, &mut rest, usize::MAX, deadline)
            .expect("the whole body");
        self.leftover = rest;
        Reply {
            status: response.status,
            response,
            body,
        }
    }

    pub fn request(&mut self, method: &str, target: &str, body: &[u8]) -> Reply {
        self.send(method, target, &[], body);
        self.reply()
    }

    /// True once the server closed the connection.
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(std::io::Read::read(&mut self.stream, &mut byte), Ok(0))
    }
}

/// A room member over Engine.IO long polling at `/socket.io/`: one connection for its held
/// `GET`s, one for its `POST`s.
pub struct PollingChat {
    pub get: HttpClient,
    pub post: HttpClient,
    pub sid: String,
    pub nick: String,
    /// Room lines received and not yet read.
    lines: VecDeque<String>,
    /// The session was closed by the server (`1`).
    pub closed: bool,
}

impl PollingChat {
    /// Opens a session and joins namespace `/`; does not wait for the welcome.
    pub fn connect(addr: SocketAddr) -> PollingChat {
        let mut get = HttpClient::connect(addr);
        let reply = get.request("GET", "/socket.io/?EIO=4&transport=polling", b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let open = json::parse(text.strip_prefix('0').expect("an open packet")).unwrap();
        let sid = open.get("sid").as_str().expect("a sid").to_string();
        let mut chat = PollingChat {
            get,
            post: HttpClient::connect(addr),
            sid,
            nick: String::new(),
            lines: VecDeque::new(),
            closed: false,
        };
        chat.post_packets("40");
        chat
    }

    /// Connects and reads the welcome (its nick).
    pub fn join(addr: SocketAddr) -> PollingChat {
        let mut chat = PollingChat::connect(addr);
        let welcome = chat.expect_prefix("* welcome, you are ");
        chat.nick = super::nick_from_welcome(&welcome);
        chat
    }

    pub fn target(&self) -> String {
        format!("/socket.io/?EIO=4&transport=polling&sid={}", self.sid)
    }

    /// POSTs an Engine.IO payload; the server answers `ok`.
    pub fn post_packets(&mut self, payload: &str) {
        let target = self.target();
        let reply = self.post.request("POST", &target, payload.as_bytes());
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.text(), "ok");
    }

    /// Says a chat line (or a /command) as the `chat message` event.
    pub fn send(&mut self, line: &str) {
        let event = format!("42[\"chat message\",{}]", Json::from(line));
        self.post_packets(&event);
    }

    /// One held poll: its packets (pings are answered, as a client does).
    pub fn poll(&mut self) -> Vec<Packet> {
        let target = self.target();
        let reply = self.get.request("GET", &target, b"");
        assert_eq!(reply.status, 200, "{}: {}", self.nick, reply.text());
        let packets = packet::decode_payload(&reply.body).expect("a payload");
        for packet in &packets {
            match packet {
                Packet::Ping(_) => self.post_packets("3"),
                Packet::Close => self.closed = true,
                Packet::Message(Data::Text(text)) => {
                    if let Some(line) = chat_line(text) {
                        self.lines.push_back(line);
                    }
                }
                _ => {}
            }
        }
        packets
    }

    /// The next room line, polling as long as it takes (each poll within PATIENCE).
    pub fn line(&mut self) -> String {
        for _ in 0..1000 {
            if let Some(line) = self.lines.pop_front() {
                return line;
            }
            assert!(!self.closed, "{}: the session was closed", self.nick);
            self.poll();
        }
        panic!("{}: no line in 1000 polls", self.nick)
    }
}

/// `2["chat message","LINE"]` → `LINE`.
fn chat_line(text: &str) -> Option<String> {
    let event = json::parse(text.strip_prefix('2')?).ok()?;
    let args = event.as_array()?;
    (args.first()?.as_str()? == "chat message").then(|| args.get(1)?.as_str().map(String::from))?
}

/// A chat member over Socket.IO on WebSocket from the start (`transport=websocket`, what
/// `socket.io-client` with `transports: ["websocket"]` does): its socket and nick, once its
/// welcome came.
pub fn socketio_websocket_join(addr: SocketAddr) -> (plainsock::ws::WebSocket<TcpStream>, String) {
    use plainsock::ws::{self, Message};
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let mut socket = ws::client::connect(&url).unwrap();
    socket.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
    socket.send(Message::Text("40".into())).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let Message::Text(text) = socket.read().unwrap() else {
            continue;
        };
        // 42["chat message","* welcome, you are NICK ..."]
        let Some(event) = text.strip_prefix("42") else {
            continue;
        };
        let event = json::parse(event).unwrap();
        if let Json::Array(parts) = &event
            && let Some(line) = parts.get(1).and_then(Json::as_str)
            && line.starts_with("* welcome, you are ")
        {
            return (socket, super::nick_from_welcome(line));
        }
    }
    panic!("no welcome over Socket.IO on WebSocket")
}
