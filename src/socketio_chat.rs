//! The room over Socket.IO, at `/socket.io/` on the HTTP port: the way in for a client that
//! cannot open a WebSocket (a proxy that blocks it, an old network), as the article ends.
//!
//! A Socket.IO client that joins namespace `/` is a room member. It emits `chat message` with
//! a string (a chat line or a `/command`) and receives every room line as a `chat message`
//! event: the event of Socket.IO's own chat tutorial, so the tutorial's page works with the
//! real client (loaded from npm or a CDN: this server does not serve `socket.io.js`).
//!
//! Its lines wait in its outbox like every member's ([`crate::delivery`]), under the same
//! bounds. While its session long-polls there is no socket to write to: a held `GET` takes
//! the lines from the outbox (the writer lanes only wake it). Once the session has upgraded
//! to WebSocket, the lanes write the lines to that socket, as to any other member's.
//!
//! ```text
//!  hub ─ lane ─ push ─→ [outbox] ←─ take ── held GET   (polling: the lane only wakes it)
//!                          └── offer ──→ WebSocket      (after the upgrade)
//! ```

use crate::ServerConfig;
use crate::conn::{HANDSHAKE_HEADROOM, Slot, Slots};
use crate::delivery::lanes::SHORT_WRITE;
use crate::delivery::outbox::Mailbox;
use crate::delivery::{Farewell, Outgoing, Outlet, SOCKETIO_EVENT};
use crate::engineio::{self, Data, Engine, Feed, Packet as EioPacket, Socket};
use crate::hub::{Hub, Member, Transport};
use crate::json::Json;
use crate::limits::{AddressSlot, PerAddress, TOO_MANY_FROM_YOU};
use crate::log::Log;
use crate::socketio::{self, App, Client, Kind, Packet};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

/// The Engine.IO engine of the chat room: Socket.IO at `/socket.io/`, with the server's
/// heartbeat, origin and proxy rules. `slots` and `per_address` are the server's caps.
pub(crate) fn engine(
    config: &ServerConfig,
    hub: Hub,
    slots: Arc<Slots>,
    per_address: Arc<PerAddress>,
    log: Log,
) -> io::Result<Engine> {
    let options = engineio::Options {
        path: "/socket.io/".into(),
        ping_interval: config.ping_interval,
        ping_timeout: config.pong_timeout,
        // Several chat lines fit in one POST; nothing near the reference server's 1 MB.
        max_payload: 16 * config.max_line.max(1024),
        allow_origins: config.allow_origins.clone(),
        trust_proxy: config.trust_proxy.clone(),
        // Sessions that have not joined the room yet are like handshakes in progress.
        max_sessions: config.max_conns + HANDSHAKE_HEADROOM,
        max_head: config.max_head,
        head_timeout: config.handshake_timeout,
        // The lanes write to this socket once the session is on WebSocket: it must not wait.
        websocket_write_timeout: Some(SHORT_WRITE),
        quiet: config.quiet,
        ..engineio::Options::default()
    };
    let room = Room {
        hub,
        slots,
        per_address,
        max_per_ip: config.max_per_ip,
        log,
        members: Mutex::new(HashMap::new()),
        reserved: Mutex::new(HashMap::new()),
    };
    Engine::new(
        options,
        socketio::Server::new(room, socketio::Options::default()),
    )
}

/// The Socket.IO application: namespace `/` is the room.
struct Room {
    hub: Hub,
    slots: Arc<Slots>,
    per_address: Arc<PerAddress>,
    max_per_ip: usize,
    log: Log,
    /// The members, by Engine.IO session id (shared: a member's lines are said without
    /// holding the map's lock) ...
    members: Mutex<HashMap<String, Arc<Joined>>>,
    /// ... and the places of those admitted, between their CONNECT answer and their joining.
    reserved: Mutex<HashMap<String, (Slot, AddressSlot)>>,
}

/// A Socket.IO client in the room: its place in it and under the caps, held until it leaves.
struct Joined {
    member: Member,
    _slot: Slot,
    _place: AddressSlot,
}

impl Room {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Joined>>> {
        // Inserts and removes only: a poisoned map is still a good map.
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reserved(&self) -> MutexGuard<'_, HashMap<String, (Slot, AddressSlot)>> {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The client's address: the handshake's (a polling client uses several connections).
fn peer_of(socket: &Socket) -> SocketAddr {
    socket
        .peer_addr()
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
}

impl App for Room {
    fn has_namespace(&self, nsp: &str) -> bool {
        nsp == "/"
    }

    fn admit(&self, client: &Client, _nsp: &str, _auth: &Json) -> Result<(), String> {
        // Like every member: one place under --max-per-ip, one under --max-conns.
        let peer = peer_of(&client.0);
        let Some(place) = self.per_address.try_take(peer.ip()) else {
            self.log.line(format_args!(
                "socket.io: {peer} refused: {TOO_MANY_FROM_YOU}"
            ));
            return Err(format!("{TOO_MANY_FROM_YOU} (at most {})", self.max_per_ip));
        };
        let Some(slot) = self.slots.try_take() else {
            return Err("the room is full; try again later".into());
        };
        let places = (slot, place);
        self.reserved().insert(client.0.sid().to_string(), places);
        Ok(())
    }

    fn connect(&self, client: &Client, _nsp: &str, _auth: &Json) {
        let socket = &client.0;
        let Some((slot, place)) = self.reserved().remove(socket.sid()) else {
            return;
        };
        let transport = match socket.transport() {
            engineio::Transport::Polling => Transport::Polling,
            engineio::Transport::WebSocket => Transport::SocketIo,
        };
        let outlet = Arc::new(SocketOutlet(socket.clone()));
        let member = self.hub.join(transport, peer_of(socket), outlet);
        socket.set_feed(Arc::new(Lines(member.mailbox().clone())));
        let joined = Joined {
            member,
            _slot: slot,
            _place: place,
        };
        self.lock()
            .insert(socket.sid().to_string(), Arc::new(joined));
    }

    fn packet(&self, client: &Client, packet: Packet) {
        let Some(joined) = self.lock().get(client.0.sid()).cloned() else {
            return;
        };
        let is_chat = packet.event_name() == Some(SOCKETIO_EVENT);
        let line = match packet.data.as_ref() {
            Some(Json::Array(items)) if is_chat => items.get(1).and_then(Json::as_str),
            _ => None,
        };
        match (packet.kind, line) {
            (Kind::Event, Some(line)) => joined.member.say(line.to_string()),
            (Kind::Event | Kind::BinaryEvent, _) => joined.member.tell(&format!(
                "error: this room takes only '{SOCKETIO_EVENT}' events with a string; ignored"
            )),
            // Acks of ours do not exist: nothing asks the client for one.
            _ => {}
        }
        if let Some(id) = packet.id {
            // The client asked for an acknowledgement: the line is in the room's hands.
            let mut ack = Packet::new(Kind::Ack, "/", Some(Json::Array(Vec::new())));
            ack.id = Some(id);
            client.send(&ack);
        }
    }

    fn upgraded(&self, client: &Client) {
        if let Some(joined) = self.lock().get(client.0.sid()).cloned() {
            joined.member.moved(Transport::SocketIo);
        }
    }

    fn disconnect(&self, client: &Client, _nsp: &str, _reason: &str) {
        // Dropping the member leaves the room (announced as for any member).
        let joined = self.lock().remove(client.0.sid());
        drop(joined);
        self.reserved().remove(client.0.sid());
    }
}

/// How the lanes reach a Socket.IO member: its session's WebSocket once it has one; until
/// then the member pulls (its long polls take the lines from the outbox, see [`Lines`]).
struct SocketOutlet(Socket);

impl Outlet for SocketOutlet {
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        let frames: Vec<&[u8]> = lines.iter().map(|line| line.socketio_frame()).collect();
        self.0.send_frames_now(&frames)
    }

    fn holds_back(&self) -> bool {
        self.0.queued() > 0
    }

    fn pulls(&self) -> bool {
        self.0.transport() == engineio::Transport::Polling
    }

    fn wake(&self) {
        self.0.notify();
    }

    fn close(&self, why: &Farewell) {
        // A lane calls this: it must not wait for the session's locks (its reader may be
        // waiting on the room), so the heartbeat thread ends the session, within a beat.
        if *why != Farewell::TooSlow {
            let notice = why.notice();
            let text = format!("2[\"{SOCKETIO_EVENT}\",{}]", Json::from(notice.as_str()));
            self.0.send_later(Data::Text(text));
        }
        self.0.close_soon(match why {
            Farewell::TooSlow => "too slow: lines were not being taken",
            Farewell::Quit => "server close",
            Farewell::Shutdown => "server shutting down",
            Farewell::Fault(_) => "server close",
        });
    }
}

/// A long poll's share of the member's outbox: its lines as `chat message` events.
struct Lines(Arc<Mailbox>);

impl Feed for Lines {
    fn take(&self, out: &mut Vec<EioPacket>, budget: usize) {
        for line in self.0.take(budget) {
            out.push(EioPacket::Message(Data::Text(
                line.socketio_event().to_string(),
            )));
        }
    }
}
