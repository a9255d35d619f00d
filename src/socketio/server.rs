//! A Socket.IO server as an Engine.IO [`Handler`]: each Engine.IO session is one Socket.IO
//! client, which joins namespaces with CONNECT, and whose events go to the [`App`].

use super::packet::{Decoder, Kind, Packet};
use crate::engineio::{Connection, Data, Handler, Socket};
use crate::json::{self, Json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a Socket.IO application does with its clients.
pub trait App: Send + Sync + 'static {
    /// May a client join `nsp`? Unknown namespaces get CONNECT_ERROR "Invalid namespace".
    fn has_namespace(&self, nsp: &str) -> bool;
    /// May this client join `nsp` now (e.g. is there room)? `Err(why)`: it gets CONNECT_ERROR
    /// `{"message": why}` and may try again later.
    fn admit(&self, _client: &Client, _nsp: &str, _auth: &Json) -> Result<(), String> {
        Ok(())
    }
    /// A client joined `nsp`; `auth` is what it sent with CONNECT (`{}` if nothing).
    fn connect(&self, client: &Client, nsp: &str, auth: &Json);
    /// An EVENT, BINARY_EVENT, ACK or BINARY_ACK on a namespace the client joined.
    fn packet(&self, client: &Client, packet: Packet);
    /// The client's connection moved from long polling to WebSocket.
    fn upgraded(&self, _client: &Client) {}
    /// The client left `nsp` (DISCONNECT, or its session ended: `reason`).
    fn disconnect(&self, client: &Client, nsp: &str, reason: &str);
}

#[derive(Clone, Debug)]
pub struct Options {
    /// A client that joins no namespace within this long is closed.
    pub connect_timeout: Duration,
    /// Most binary attachments in one packet.
    pub max_attachments: usize,
    /// Bounds of the JSON in a packet (its length is bounded by Engine.IO's `maxPayload`).
    pub json: json::Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(45),
            max_attachments: 10,
            json: json::Limits {
                max_len: usize::MAX,
                max_depth: 32,
            },
        }
    }
}

/// A Socket.IO server for `app`: give it to [`crate::engineio::Engine::new`] (with the
/// path `/socket.io/`).
pub struct Server<A> {
    app: Arc<A>,
    options: Options,
}

impl<A: App> Server<A> {
    pub fn new(app: A, options: Options) -> Server<A> {
        Server {
            app: Arc::new(app),
            options,
        }
    }
}

impl<A: App> Handler for Server<A> {
    fn open(&self, socket: &Socket) -> Box<dyn Connection> {
        socket.close_at(Some(Instant::now() + self.options.connect_timeout));
        Box::new(Session {
            app: self.app.clone(),
            decoder: Decoder::new(self.options.max_attachments, self.options.json),
            joined: Vec::new(),
        })
    }
}

/// A Socket.IO client as the application sees it: the Engine.IO session it rides on.
#[derive(Clone)]
pub struct Client(pub Socket);

impl Client {
    /// Sends a packet, its attachments right behind it.
    pub fn send(&self, packet: &Packet) {
        let mut messages = vec![Data::Text(packet.encode())];
        messages.extend(packet.attachments.iter().cloned().map(Data::Binary));
        self.0.send_all(messages);
    }

    /// Emits event `name` with `args` (and `attachments` for the placeholders in them).
    pub fn emit(&self, nsp: &str, name: &str, args: Vec<Json>, attachments: Vec<Vec<u8>>) {
        self.send(&Packet::event(nsp, name, args, attachments));
    }

    /// Ends the whole connection.
    pub fn close(&self) {
        self.0.close();
    }
}

/// One client's state: its decoder and the namespaces it joined.
struct Session<A> {
    app: Arc<A>,
    decoder: Decoder,
    joined: Vec<String>,
}

impl<A: App> Connection for Session<A> {
    fn message(&mut self, socket: &Socket, data: Data) {
        let decoded = match data {
            Data::Text(text) => self.decoder.text(&text),
            Data::Binary(bytes) => self.decoder.binary(bytes),
        };
        match decoded {
            Ok(Some(packet)) => self.packet(&Client(socket.clone()), packet),
            Ok(None) => {}
            // A packet that breaks the format ends the connection, as in the reference server.
            Err(_) => socket.close(),
        }
    }

    fn upgraded(&mut self, socket: &Socket) {
        self.app.upgraded(&Client(socket.clone()));
    }

    fn close(&mut self, socket: &Socket, reason: &str) {
        let client = Client(socket.clone());
        for nsp in std::mem::take(&mut self.joined) {
            self.app.disconnect(&client, &nsp, reason);
        }
    }
}

impl<A: App> Session<A> {
    fn packet(&mut self, client: &Client, packet: Packet) {
        let joined = self.joined.contains(&packet.nsp);
        match packet.kind {
            Kind::Connect if !joined => self.connect(client, packet),
            Kind::Disconnect if joined => {
                self.joined.retain(|n| *n != packet.nsp);
                self.app
                    .disconnect(client, &packet.nsp, "client namespace disconnect");
            }
            Kind::Event | Kind::BinaryEvent | Kind::Ack | Kind::BinaryAck if joined => {
                self.app.packet(client, packet)
            }
            // A second CONNECT, a CONNECT_ERROR from a client, or a packet for a namespace
            // it never joined: the reference server closes such a client too.
            _ => client.close(),
        }
    }

    /// CONNECT: join a known namespace (answered with the socket's id), or CONNECT_ERROR.
    fn connect(&mut self, client: &Client, packet: Packet) {
        let nsp = packet.nsp;
        if !self.app.has_namespace(&nsp) {
            let error = Json::object([("message", "Invalid namespace".into())]);
            return client.send(&Packet::new(Kind::ConnectError, &nsp, Some(error)));
        }
        let auth = packet.data.unwrap_or_else(|| Json::Object(Vec::new()));
        if let Err(why) = self.app.admit(client, &nsp, &auth) {
            let error = Json::object([("message", why.into())]);
            return client.send(&Packet::new(Kind::ConnectError, &nsp, Some(error)));
        }
        client.0.close_at(None);
        self.joined.push(nsp.clone());
        let sid = Json::object([("sid", crate::rand::url_token(15).into())]);
        client.send(&Packet::new(Kind::Connect, &nsp, Some(sid)));
        self.app.connect(client, &nsp, &auth);
    }
}
