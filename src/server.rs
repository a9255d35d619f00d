//! `plainsock serve`: binds the listeners, starts the room, hands each listener to its
//! transport, and stops it all again. It only assembles: the room is `hub`, what every
//! connection needs is `conn`, and each transport is one module (`tcp`, `udp`, `web`).

use crate::config::ServerConfig;
use crate::conn::{self, Connections, Context, Handler, Refuser, Slots, loopback};
use crate::hub::Hub;
use crate::limits::PerAddress;
use crate::log::Log;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long `shutdown` waits for connection threads to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binding failed: which address and why, in one line.
#[derive(Debug)]
pub struct BindError {
    pub what: &'static str,
    pub addr: String,
    pub error: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.addr.is_empty() {
            // Not a listener: the room itself could not start (threads, or `--cluster`'s Redis).
            return write!(f, "cannot start the {}: {}", self.what, self.error);
        }
        write!(
            f,
            "cannot bind the {} listener to {}: {}",
            self.what, self.addr, self.error
        )
    }
}

impl std::error::Error for BindError {}

/// A running chat server. Dropping it shuts it down.
pub struct Server {
    ctx: Arc<Context>,
    tcp: Option<SocketAddr>,
    udp: Option<SocketAddr>,
    ws: Option<SocketAddr>,
    /// Each accept thread, and the address that wakes it.
    accept_threads: Vec<(SocketAddr, JoinHandle<()>)>,
    udp_thread: Option<JoinHandle<()>>,
    hub_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds every configured listener (all or nothing), then starts serving.
    pub fn start(config: ServerConfig) -> Result<Server, BindError> {
        fn bind_err(what: &'static str, addr: &str) -> impl FnOnce(io::Error) -> BindError {
            let addr = addr.to_string();
            move |error| BindError { what, addr, error }
        }
        let tcp = match &config.tcp {
            Some(addr) => Some(TcpListener::bind(addr).map_err(bind_err("TCP", addr))?),
            None => None,
        };
        let udp = match &config.udp {
            Some(addr) => Some(UdpSocket::bind(addr).map_err(bind_err("UDP", addr))?),
            None => None,
        };
        let ws = match &config.ws {
            Some(addr) => Some(TcpListener::bind(addr).map_err(bind_err("WebSocket", addr))?),
            None => None,
        };
        let log = Log {
            quiet: config.quiet,
        };
        let internal = |error| BindError {
            what: "room",
            addr: String::new(),
            error,
        };
        let (hub, hub_thread) = Hub::start(&config, log).map_err(internal)?;
        let slots = Slots::new(config.max_conns);
        let per_address = PerAddress::new(config.max_per_ip);
        let socketio = match &ws {
            Some(_) => {
                let engine = crate::socketio_chat::engine(
                    &config,
                    hub.clone(),
                    slots.clone(),
                    per_address.clone(),
                    log,
                );
                Some(Arc::new(engine.map_err(internal)?) as Arc<dyn conn::Mount>)
            }
            None => None,
        };
        let ctx = Arc::new(Context {
            slots,
            per_address,
            socketio,
            ws_addr: ws.as_ref().and_then(|l| l.local_addr().ok()),
            config,
            hub,
            connections: Connections::default(),
            stopping: AtomicBool::new(false),
            log,
            spawns: AtomicUsize::new(0),
        });
        let mut server = Server {
            tcp: tcp.as_ref().and_then(|l| l.local_addr().ok()),
            udp: udp.as_ref().and_then(|s| s.local_addr().ok()),
            ws: ws.as_ref().and_then(|l| l.local_addr().ok()),
            ctx,
            accept_threads: Vec::new(),
            udp_thread: None,
            hub_thread: Some(hub_thread),
        };
        // The stream transports: one line each.
        let listeners: [(_, _, Handler, Refuser); 2] = [
            (tcp, "tcp", crate::tcp::serve, crate::tcp::refuse),
            (ws, "ws", crate::web::serve, crate::web::refuse),
        ];
        for (listener, name, handler, refuse) in listeners {
            let Some(listener) = listener else { continue };
            let addr = listener.local_addr().map_err(internal)?;
            let threads = conn::listen(listener, &server.ctx, name, handler, refuse);
            for thread in threads.map_err(internal)? {
                server.accept_threads.push((addr, thread));
            }
        }
        if let Some(socket) = udp {
            let ctx = server.ctx.clone();
            let thread = thread::Builder::new()
                .name("udp".into())
                .spawn(move || crate::udp::serve(socket, ctx));
            server.udp_thread = Some(thread.map_err(internal)?);
        }
        Ok(server)
    }

    /// The TCP chat listener's real address (port 0 resolved).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp
    }

    /// The HTTP + WebSocket listener's real address.
    pub fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws
    }

    /// Members in the room now.
    pub fn member_count(&self) -> usize {
        self.ctx.hub.member_count()
    }

    /// Places under `--max-per-ip` that the client address `ip` (its /64 for IPv6) holds now:
    /// members and handshakes in progress.
    pub fn places_taken(&self, ip: std::net::IpAddr) -> usize {
        self.ctx.per_address.count(ip)
    }

    /// Connection threads alive now (TCP and WebSocket; UDP peers have none).
    pub fn connection_threads(&self) -> usize {
        self.ctx.connections.count()
    }

    /// Blocks until the server stops (it does not, unless another thread shuts it down).
    pub fn wait(mut self) {
        for (_, thread) in self.accept_threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(thread) = self.udp_thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops accepting, says goodbye to every member (`* server shutting down`, WebSocket close
    /// 1001), closes every socket and joins every thread, within a bounded time.
    /// Returns false if some connection thread was still running after the grace period.
    pub fn shutdown(mut self) -> bool {
        self.stop()
    }

    fn stop(&mut self) -> bool {
        if self.ctx.stopping.swap(true, Ordering::AcqRel) {
            return true;
        }
        // A blocked accept() only returns for a connection: make one per accept thread.
        for (addr, _) in &self.accept_threads {
            let _ = TcpStream::connect_timeout(&loopback(*addr), Duration::from_secs(1));
        }
        for (_, thread) in self.accept_threads.drain(..) {
            let _ = thread.join();
        }
        // The room says goodbye first (a long-polling member's goodbye waits in its session),
        // then the Socket.IO sessions end, their held polls answering with it.
        self.ctx.hub.shutdown();
        if let Some(thread) = self.hub_thread.take() {
            let _ = thread.join();
        }
        if let Some(socketio) = &self.ctx.socketio {
            socketio.close_all();
        }
        if let (Some(addr), Some(thread)) = (self.udp, self.udp_thread.take()) {
            if let Ok(socket) = UdpSocket::bind((loopback(addr).ip(), 0)) {
                let _ = socket.send_to(b"", loopback(addr));
            }
            let _ = thread.join();
        }
        self.ctx.connections.close_all();
        self.ctx
            .connections
            .wait_until_empty(Instant::now() + SHUTDOWN_GRACE)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
