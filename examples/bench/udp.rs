//! Scenario 5: 64-byte datagrams echoed through plainsock's UDP chat path (one peer: its
//! line comes back from the room as `guest-N: LINE`) beside a bare recv_from/send_to loop.
//! Both servers run in this process; the client is the same code for both.

use crate::echo::{Proto, Timing};
use plainsock::{Server, ServerConfig};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A bare echo loop: recv_from, send_to, nothing else.
struct BareEcho {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl BareEcho {
    fn start() -> io::Result<BareEcho> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // Wakes now and then to see `stop`, like the chat server's loop does for its sweep.
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            let mut buf = vec![0u8; 65_507];
            while !stopping.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], peer);
                }
            }
        });
        Ok(BareEcho {
            addr,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for BareEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Round trips per second; `Proto::Ws` here stands for "plainsock" (the chat UDP path).
/// Also returns how many datagrams were lost (retried after 200 ms) in the window.
pub fn udp_rate(plainsock: bool, t: Timing) -> io::Result<(f64, u64)> {
    let mut chat = None;
    let mut bare = None;
    let addr = if plainsock {
        let config = ServerConfig {
            tcp: None,
            ws: None,
            udp: Some("127.0.0.1:0".into()),
            quiet: true,
            ..ServerConfig::default()
        };
        let server = Server::start(config).map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server
            .udp_addr()
            .ok_or_else(|| io::Error::other("no UDP address"))?;
        chat = Some(server);
        addr
    } else {
        let echo = BareEcho::start()?;
        let addr = echo.addr;
        bare = Some(echo);
        addr
    };
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(addr)?;
    client.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut buf = vec![0u8; 65_507];
    let (mut seq, mut lost, mut done) = (0u64, 0u64, 0u64);
    let mut window_start: Option<(Instant, u64, u64)> = None;
    let start = Instant::now();
    let result = loop {
        let now = Instant::now();
        if window_start.is_none() && now - start >= t.warmup {
            window_start = Some((now, done, lost));
        }
        if let Some((t0, d0, l0)) = window_start
            && now - t0 >= t.window
        {
            break Ok(((done - d0) as f64 / (now - t0).as_secs_f64(), lost - l0));
        }
        seq += 1;
        // 64 printable bytes that name this round trip, so late echoes are told apart.
        let payload = format!("{seq:020}{}", "x".repeat(44));
        client.send(payload.as_bytes())?;
        loop {
            match client.recv(&mut buf) {
                // The chat answers `guest-N: LINE\n`; notices (`* ...`) and older lines skip.
                Ok(n)
                    if buf[..n]
                        .strip_suffix(b"\n")
                        .unwrap_or(&buf[..n])
                        .ends_with(payload.as_bytes()) =>
                {
                    done += 1;
                    break;
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    lost += 1;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if lost > 50 && done == 0 {
            break Err(io::Error::other("no UDP echo at all"));
        }
    };
    drop(chat);
    drop(bare);
    result
}

/// Alternates the two (see `echo::alternate`); returns (bare, plainsock, lost datagrams,
/// each run's ratio).
pub fn udp_pair(t: Timing) -> io::Result<(f64, f64, u64, String)> {
    let mut lost_total = 0;
    let (bare, chat, spread) = crate::echo::alternate(t.runs, |proto| {
        let (rate, lost) = udp_rate(proto == Proto::Ws, t)?;
        lost_total += lost;
        Ok(rate)
    })?;
    Ok((bare, chat, lost_total, spread))
}
