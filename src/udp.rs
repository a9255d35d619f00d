//! UDP chat: one socket and one `recv_from` loop serve every peer.
//!
//! UDP has no connections, so nothing says "joined" or "left": a peer joins by sending any
//! datagram, is told apart from the others only by its source address, and leaves with `/quit`
//! or by staying silent for `udp_idle`. Each datagram is one chat line, both ways (the server's
//! end with `\n`, so that `nc -u` shows one line each); a datagram holding several lines is
//! several messages. Because any program can
//! write any source address into a datagram, the peer table is capped (`max_udp_peers`).

use crate::conn::{Context, Slot};
use crate::delivery::{Farewell, Outgoing, Outlet};
use crate::hub::{Member, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The largest UDP payload over IPv4: 65,535 - 8 (UDP header) - 20 (IP header).
pub const MAX_DATAGRAM: usize = 65_507;
/// How often silent peers are looked for; also how long `recv_from` waits at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

struct Peer {
    member: Member,
    last_seen: Instant,
    /// Set when the hub closed this member (`/quit`, shutdown): the next datagram joins anew.
    closed: Arc<AtomicBool>,
    _slot: Slot,
}

/// The `recv_from` loop (runs on the server's `udp` thread until shutdown).
pub(crate) fn serve(socket: UdpSocket, ctx: Arc<Context>) {
    let socket = Arc::new(socket);
    let _ = socket.set_read_timeout(Some(SWEEP_EVERY));
    let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut last_sweep = Instant::now();
    loop {
        let received = socket.recv_from(&mut buf);
        if ctx.stopping.load(Ordering::Acquire) {
            return;
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            sweep(&mut peers, ctx.config.udp_idle);
        }
        let (len, addr) = match received {
            Ok(got) => got,
            // The read timeout: a chance to sweep, nothing more.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // E.g. an ICMP "port unreachable" for an earlier send_to: about one peer, not us.
            Err(_) => continue,
        };
        // A panic while handling one datagram is that peer's problem, not the service's: it
        // is logged and the peer forgotten (which takes it out of the room); the loop goes on.
        let datagram = buf.get(..len).unwrap_or_default();
        let handled = panic::catch_unwind(AssertUnwindSafe(|| {
            handle(&socket, &mut peers, addr, datagram, &ctx)
        }));
        if handled.is_err() {
            peers.remove(&addr);
            ctx.log.line(format_args!(
                "udp {addr}: handling its datagram panicked; peer removed"
            ));
        }
    }
}

/// One datagram from `addr`: joins it if new, then hands its line to the hub.
fn handle(
    socket: &Arc<UdpSocket>,
    peers: &mut HashMap<SocketAddr, Peer>,
    addr: SocketAddr,
    datagram: &[u8],
    ctx: &Context,
) {
    if peers
        .get(&addr)
        .is_some_and(|p| p.closed.load(Ordering::Acquire))
    {
        peers.remove(&addr);
    }
    if !peers.contains_key(&addr) {
        match join(socket, addr, ctx, peers.len()) {
            Some(peer) => peers.insert(addr, peer),
            None => return,
        };
    }
    let Some(peer) = peers.get_mut(&addr) else {
        return;
    };
    peer.last_seen = Instant::now();
    if datagram.len() > ctx.config.max_line {
        peer.member.tell(&format!(
            "error: message longer than {} bytes; dropped",
            ctx.config.max_line
        ));
        return;
    }
    let Ok(text) = std::str::from_utf8(datagram) else {
        peer.member
            .tell("error: that message was not UTF-8; dropped");
        return;
    };
    // Usually one line per datagram, but `printf 'a\nb\n' | nc -u` sends two lines in one:
    // each is a message, as over TCP. `lines()` also drops a trailing `\n` or `\r\n`.
    for text in text.lines() {
        if ctx.config.fault_injection && text == "/panic" {
            panic!("fault injection: /panic from {addr}");
        }
        let quit = crate::chat::parse_line(text) == crate::chat::Input::Quit;
        peer.member.say(text.to_string());
        if quit {
            // The hub says goodbye; forget the address now, so its next datagram joins anew.
            // Lines after the /quit are not said.
            peers.remove(&addr);
            return;
        }
    }
}

/// A datagram from an unknown address: a new member, if there is room.
fn join(socket: &Arc<UdpSocket>, addr: SocketAddr, ctx: &Context, peers: usize) -> Option<Peer> {
    let slot = (peers < ctx.config.max_udp_peers)
        .then(|| ctx.slots.try_take())
        .flatten();
    let Some(slot) = slot else {
        let _ = socket.send_to(b"* server full\n", addr);
        return None;
    };
    let closed = Arc::new(AtomicBool::new(false));
    let outlet = UdpOutlet {
        socket: socket.clone(),
        peer: addr,
        closed: closed.clone(),
    };
    let member = ctx.hub.join(Transport::Udp, addr, Arc::new(outlet));
    Some(Peer {
        member,
        last_seen: Instant::now(),
        closed,
        _slot: slot,
    })
}

/// Peers silent for longer than `idle` have left; they are told so.
fn sweep(peers: &mut HashMap<SocketAddr, Peer>, idle: Duration) {
    peers.retain(|_, peer| {
        if peer.closed.load(Ordering::Acquire) {
            return false;
        }
        if peer.last_seen.elapsed() < idle {
            return true;
        }
        peer.member.kick(&format!(
            "idle for {} s: you left the room (send anything to rejoin)",
            idle.as_secs()
        ));
        false
    });
}

/// The hub's way to write to a UDP peer: one datagram per line, from the one shared socket.
struct UdpOutlet {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    closed: Arc<AtomicBool>,
}

impl Outlet for UdpOutlet {
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        for line in lines {
            // A datagram that the peer's buffer has no room for is dropped by its kernel, not
            // queued: UDP never blocks the room on a slow peer, and its outbox stays empty. A
            // datagram that cannot be sent at all is lost like any other; a peer that is gone
            // leaves when it has been silent for `udp_idle`.
            let _ = self.socket.send_to(line.datagram(), self.peer);
        }
        Ok(lines.len())
    }

    fn close(&self, why: &Farewell) {
        self.closed.store(true, Ordering::Release);
        let _ = self
            .socket
            .send_to(format!("{}\n", why.notice()).as_bytes(), self.peer);
    }
}
