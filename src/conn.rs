//! What every connection needs, whatever its transport: the accept loop, a thread per
//! connection (with panics contained), the member cap (`--max-conns`), and the registry of live
//! connection threads that shutdown closes and waits for.
//!
//! Transports (`tcp`, `web`) are handed a `Context` and a socket; they know the room (`hub`)
//! and this module, not each other. `server` only wires them together.

use crate::config::ServerConfig;
use crate::http::Request;
use crate::hub::Hub;
use crate::limits::PerAddress;
use crate::log::Log;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Stack of a connection thread. Its buffers live on the heap, so a small stack is plenty, and
/// 10,000 of them stay cheap (only touched pages count towards RSS anyway).
const CONNECTION_STACK: usize = 256 * 1024;
/// Threads accepting on each chat listener. `accept` on one socket from two threads is safe;
/// each only accepts and hands over to its starter thread, so the kernel's queue of finished
/// handshakes (std's backlog: 128) drains as fast as it can in a connect storm.
const ACCEPTORS: usize = 2;

/// Members across all transports, against `--max-conns`.
pub(crate) struct Slots {
    used: AtomicUsize,
    max: usize,
}

/// One member's place under the cap; dropping it frees the place.
pub(crate) struct Slot(Arc<Slots>);

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            used: AtomicUsize::new(0),
            max,
        })
    }

    pub fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(self.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every live connection thread and its socket: shutdown closes the sockets (which wakes a
/// thread blocked in `read`) and waits until the count is zero.
#[derive(Default)]
pub(crate) struct Connections {
    live: Mutex<HashMap<u64, Arc<TcpStream>>>,
    ended: Condvar,
    next: AtomicU64,
}

/// A registered connection; dropped when its thread ends.
pub(crate) struct Registered<'a> {
    id: u64,
    all: &'a Connections,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<TcpStream>>> {
        // A panic while holding this lock cannot leave the map half-changed, so a poisoned
        // lock is still a good map.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn register(&self, stream: Arc<TcpStream>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, stream);
        id
    }

    fn guard(&self, id: u64) -> Registered<'_> {
        Registered { id, all: self }
    }

    /// Unregisters a connection. Its socket closes when the last `Arc` goes: a writer lane may
    /// still hold one, to say goodbye first.
    fn forget(&self, id: u64) {
        let mut live = self.lock();
        live.remove(&id);
        if live.is_empty() {
            self.ended.notify_all();
        }
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    pub fn close_all(&self) {
        for stream in self.lock().values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn wait_until_empty(&self, deadline: Instant) -> bool {
        let mut live = self.lock();
        while !live.is_empty() {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            live = match self.ended.wait_timeout(live, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.all.forget(self.id);
    }
}

/// An HTTP application mounted on the web port beside the page and `/ws` (Engine.IO at
/// `/socket.io/`). A trait here, so that this module does not depend on the transport.
pub(crate) trait Mount: Send + Sync {
    /// Is this request target one of its own?
    fn serves(&self, target: &str) -> bool;
    /// Serves the connection from its first request (read already) on, while the requests
    /// are its own. Returns the first that is not, with what was read past it: a browser
    /// sends any request to the server on a connection kept alive.
    fn serve_connection(
        &self,
        stream: &Arc<TcpStream>,
        request: Request,
        leftover: Vec<u8>,
    ) -> Option<(Request, Vec<u8>)>;
    /// The server is stopping: end every session.
    fn close_all(&self);
}

/// What every transport thread can reach.
pub(crate) struct Context {
    pub config: ServerConfig,
    /// The HTTP + WebSocket listener's real address, for hints that point to the web page.
    pub ws_addr: Option<SocketAddr>,
    pub hub: Hub,
    pub slots: Arc<Slots>,
    /// Places per client address, against `--max-per-ip`.
    pub per_address: Arc<PerAddress>,
    pub connections: Connections,
    /// Socket.IO at `/socket.io/`, on the web port.
    pub socketio: Option<Arc<dyn Mount>>,
    pub stopping: AtomicBool,
    pub log: Log,
    /// Connection threads started so far (for `ServerConfig::fail_nth_spawn`).
    pub spawns: AtomicUsize,
}

/// What a connection thread runs, given its socket.
pub(crate) type Handler = fn(&Arc<TcpStream>, SocketAddr, &Arc<Context>);
/// What the accept thread answers when there is no room for another connection.
pub(crate) type Refuser = fn(&TcpStream);

/// Connections still in their HTTP handshake may exceed `max_conns` by this many before new
/// ones are turned away at the door, so the thread count stays bounded under a flood.
pub(crate) const HANDSHAKE_HEADROOM: usize = 256;

/// The accept loop: accept, hand off, repeat. It does nothing else, so it keeps up with a storm
/// of connects (std's listen backlog is only 128). Returns once `stopping` is set and the loop
/// is woken by one more connection.
pub(crate) fn accept_loop(
    listener: &TcpListener,
    stopping: &AtomicBool,
    name: &str,
    log: Log,
    mut hand_off: impl FnMut(TcpStream, SocketAddr),
) {
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = listener.accept();
        if stopping.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::ZERO;
                hand_off(stream, peer);
            }
            Err(e) => {
                // EMFILE (too many open files) and friends: the kernel keeps the connection
                // queued until a descriptor frees up, so wait instead of spinning on the error.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_millis(500));
                log.line(format_args!(
                    "{name}: accept failed: {e}; retrying in {backoff:?}"
                ));
                thread::sleep(backoff);
            }
        }
    }
}

/// Runs `work` on a new thread named after the peer. A panic in it stops at this boundary: it
/// is logged, and unwinding has already dropped (and so closed) what the thread held.
pub(crate) fn spawn_connection(
    name: &str,
    peer: SocketAddr,
    log: Log,
    work: impl FnOnce() + Send + 'static,
) -> io::Result<()> {
    let label = format!("{name} {peer}");
    thread::Builder::new()
        .name(label.clone())
        .stack_size(CONNECTION_STACK)
        .spawn(move || {
            if panic::catch_unwind(AssertUnwindSafe(work)).is_err() {
                log.line(format_args!(
                    "{label}: the connection thread panicked; connection closed"
                ));
            }
        })
        .map(drop)
}

/// Accepted connections waiting for their thread. The kernel's listen queue holds only 128
/// (std's backlog): a storm of connects overflows it unless it is emptied at `accept` speed.
const HANDOFF_CAPACITY: usize = 4096;

/// The chat server's door for one listener. Two threads: the accept thread only accepts
/// (so the kernel's short listen queue is emptied as fast as it fills, and no SYN is dropped
/// in a reconnect storm), and a starter thread caps, registers (so shutdown can close the
/// socket) and runs `handler` on the connection's own thread.
fn serve_listener(
    listener: &TcpListener,
    ctx: Arc<Context>,
    name: &'static str,
    handler: Handler,
    refuse: Refuser,
) {
    let (handoff, accepted) = crossbeam_channel::bounded(HANDOFF_CAPACITY);
    let starter_ctx = ctx.clone();
    let starter = thread::Builder::new()
        .name(format!("{name}-start"))
        .spawn(move || {
            for (stream, peer) in accepted {
                start_connection(stream, peer, &starter_ctx, name, handler, refuse);
            }
        });
    let Ok(starter) = starter else {
        // No thread for the starter: start connections from the accept thread itself.
        return accept_loop(listener, &ctx.stopping, name, ctx.log, |stream, peer| {
            start_connection(stream, peer, &ctx, name, handler, refuse)
        });
    };
    accept_loop(listener, &ctx.stopping, name, ctx.log, |stream, peer| {
        let _ = handoff.send((stream, peer));
    });
    drop(handoff);
    let _ = starter.join();
}

/// Starts the accept threads of one listener (see `serve_listener`). At shutdown each is woken
/// by one connection to the listener's address, once `ctx.stopping` is set.
pub(crate) fn listen(
    listener: TcpListener,
    ctx: &Arc<Context>,
    name: &'static str,
    handler: Handler,
    refuse: Refuser,
) -> io::Result<Vec<JoinHandle<()>>> {
    let listener = Arc::new(listener);
    (0..ACCEPTORS)
        .map(|n| {
            let (listener, ctx) = (listener.clone(), ctx.clone());
            thread::Builder::new()
                .name(format!("{name}-accept-{n}"))
                .spawn(move || serve_listener(&listener, ctx, name, handler, refuse))
        })
        .collect()
}

/// Caps the threads, registers the socket and runs `handler` on the connection's own thread.
fn start_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &Arc<Context>,
    name: &'static str,
    handler: Handler,
    refuse: Refuser,
) {
    if ctx.stopping.load(Ordering::Acquire) {
        return;
    }
    if ctx.connections.count() >= ctx.config.max_conns + HANDSHAKE_HEADROOM {
        refuse(&stream);
        ctx.log
            .line(format_args!("{name}: {peer} refused: too many connections"));
        return;
    }
    let stream = Arc::new(stream);
    let id = ctx.connections.register(stream.clone());
    let thread_ctx = ctx.clone();
    let own = stream.clone();
    let work = move || {
        let _registered = thread_ctx.connections.guard(id);
        handler(&own, peer, &thread_ctx);
    };
    let nth = ctx.spawns.fetch_add(1, Ordering::Relaxed) + 1;
    let started = if ctx.config.fail_nth_spawn == Some(nth) {
        Err(io::Error::other("fault injection: no thread for this one"))
    } else {
        spawn_connection(name, peer, ctx.log, work)
    };
    if let Err(e) = started {
        // No thread for this one connection: refuse it, keep serving everyone else.
        ctx.connections.forget(id);
        refuse(&stream);
        ctx.log.line(format_args!(
            "{name}: cannot start a thread for {peer}: {e}; refused"
        ));
    }
}

/// Where to reach a listener from this machine: a wildcard address (0.0.0.0) means loopback.
pub(crate) fn loopback(addr: SocketAddr) -> SocketAddr {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}
