//! The echo server Socket.IO checks servers for compliance with (the protocol's test suite),
//! on plainsock's hand-written Engine.IO and Socket.IO: one thread per connection.
//!
//! Run:  cargo run --release --example socketio_echo_server [ADDR]     (default 127.0.0.1:3000)
//! Talk: printf 'GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n' | nc 127.0.0.1 3000
//!       (the answer is the open packet: 0{"sid":"…","upgrades":["websocket"],…});
//!       or with Node's socket.io-client: io("http://127.0.0.1:3000").emit("message", 1, "two")
//!
//! * `/engine.io/`: every Engine.IO message comes back as it came (text or binary).
//! * `/socket.io/`: on connection to `/` or `/custom` the server emits `auth` with the client's
//!   auth payload; on `/`, `message` comes back as `message-back` with the same arguments, and
//!   `message-with-ack` is acknowledged with its arguments. Other namespaces are refused.
//!
//! Options as the test suite wants them: pingInterval 300 ms, pingTimeout 200 ms, maxPayload
//! 1,000,000 bytes, connect timeout 1 s, any Origin.

use plainsock::engineio::{self, Connection, Data, Engine, Handler, Socket};
use plainsock::json::Json;
use plainsock::socketio::{self, App, Client, Kind, Packet};
use std::net::TcpListener;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Engine.IO echo: each message goes back to the session that sent it.
struct Echo;

impl Handler for Echo {
    fn open(&self, _socket: &Socket) -> Box<dyn Connection> {
        Box::new(Echo)
    }
}

impl Connection for Echo {
    fn message(&mut self, socket: &Socket, data: Data) {
        socket.send(data);
    }

    fn close(&mut self, _socket: &Socket, _reason: &str) {}
}

/// The Socket.IO side of the test suite's server.
struct EchoApp;

impl App for EchoApp {
    fn has_namespace(&self, nsp: &str) -> bool {
        nsp == "/" || nsp == "/custom"
    }

    fn connect(&self, client: &Client, nsp: &str, auth: &Json) {
        client.emit(nsp, "auth", vec![auth.clone()], Vec::new());
    }

    fn packet(&self, client: &Client, packet: Packet) {
        if packet.nsp != "/" || packet.kind == Kind::Ack || packet.kind == Kind::BinaryAck {
            return;
        }
        let args = packet.args().to_vec();
        match (packet.event_name(), packet.id) {
            (Some("message"), _) => client.emit("/", "message-back", args, packet.attachments),
            (Some("message-with-ack"), Some(id)) => {
                client.send(&Packet::ack("/", id, args, packet.attachments))
            }
            _ => {}
        }
    }

    fn disconnect(&self, _client: &Client, _nsp: &str, _reason: &str) {}
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr)?;
    let options = engineio::Options {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        max_payload: 1_000_000,
        any_origin: true,
        ..engineio::Options::default()
    };
    let engine_io = Engine::new(
        engineio::Options {
            path: "/engine.io/".into(),
            ..options.clone()
        },
        Echo,
    )?;
    let socket_io = Engine::new(
        engineio::Options {
            path: "/socket.io/".into(),
            ..options
        },
        socketio::Server::new(
            EchoApp,
            socketio::Options {
                connect_timeout: Duration::from_secs(1),
                ..socketio::Options::default()
            },
        ),
    )?;
    println!("listening on http://{}/socket.io/", listener.local_addr()?);
    engineio::serve(&listener, &[engine_io, socket_io], &AtomicBool::new(false));
    Ok(())
}
