//! Every limit, timeout and cap of the chat server, with its default, in one place.
//!
//! The README's "Limits and defaults" table mirrors [`ServerConfig::default`]; the CLI flags in
//! `main.rs` set these fields.

use crate::proxy::TrustedProxies;
use crate::resp::RedisUrl;
use std::time::Duration;

/// How `plainsock serve` behaves. `None` for a listener address turns that transport off.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// TCP chat listener (`--tcp`), default `127.0.0.1:7000`.
    pub tcp: Option<String>,
    /// UDP chat socket (`--udp`), default `127.0.0.1:7001`.
    pub udp: Option<String>,
    /// HTTP + WebSocket listener (`--ws`), default `127.0.0.1:8080`.
    pub ws: Option<String>,
    /// Members across all transports (`--max-conns`); over it a client is refused.
    pub max_conns: usize,
    /// Members and handshakes in progress from one client address, IPv6 by /64
    /// (`--max-per-ip`); 0 turns the cap off.
    pub max_per_ip: usize,
    /// Peers whose `Forwarded` / `X-Forwarded-*` headers are believed (`--trust-proxy`):
    /// the reverse proxy in front. Empty (the default): those headers are ignored.
    pub trust_proxy: TrustedProxies,
    /// UDP peers remembered at once (`--max-udp-peers`): spoofed source addresses cannot grow
    /// the peer table past this.
    pub max_udp_peers: usize,
    /// Longest chat line in bytes, without its newline (`--max-line`).
    pub max_line: usize,
    /// A UDP peer that sent nothing for this long has left (`--udp-idle`).
    pub udp_idle: Duration,
    /// A member whose oldest waiting line is this old is too slow and is dropped
    /// (`--write-timeout`): what its socket has not taken waits in its outbox meanwhile.
    pub write_timeout: Duration,
    /// Bytes of lines that may wait in one member's outbox (`--max-outbox`); over it, the
    /// member is too slow and is dropped.
    pub max_outbox: usize,
    /// Room messages a newcomer is shown.
    pub history: usize,
    /// Rooms up to this size announce each join and leave; bigger rooms get one summary line a
    /// second (`--announce-up-to`): announcing N joins to N members is N² lines.
    pub announce_up_to: usize,
    /// A quiet WebSocket member is pinged after this long (`--ping-interval`) ...
    pub ping_interval: Duration,
    /// ... and dropped if no frame arrives within this much more (`--pong-timeout`).
    pub pong_timeout: Duration,
    /// An HTTP request head must arrive within this long (`--handshake-timeout`), against slow-loris.
    pub handshake_timeout: Duration,
    /// Largest HTTP request head in bytes (`--max-head`); larger gets 431.
    pub max_head: usize,
    /// A new TCP chat connection that sends nothing for this long joins the room; one that
    /// sends at once is checked for HTTP first (see `tcp::serve`). Zero: join at once (the
    /// first line is still checked, but an HTTP client then sees the welcome first).
    pub first_line_wait: Duration,
    /// Extra page origins allowed to open `/ws` besides the server's own (`--allow-origin`).
    pub allow_origins: Vec<String>,
    /// Writer threads that send to all members (`--writers`).
    pub writers: usize,
    /// The Redis that links this process to the others serving the same room (`--cluster`);
    /// `None`: this process is the whole room.
    pub cluster: Option<RedisUrl>,
    /// Which room's keys in that Redis (`--room`), default `main`.
    pub room: String,
    /// No join/leave log lines on stderr (`--quiet`).
    pub quiet: bool,
    /// Test-only: a chat line `/panic` panics the member's thread, to prove panics are contained.
    #[doc(hidden)]
    pub fault_injection: bool,
    /// Test-only: the Nth connection thread (counted from 1, over both listeners) fails to
    /// start, as when the OS has no threads left, to prove that refuses only that connection.
    #[doc(hidden)]
    pub fail_nth_spawn: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            tcp: Some("127.0.0.1:7000".into()),
            udp: Some("127.0.0.1:7001".into()),
            ws: Some("127.0.0.1:8080".into()),
            max_conns: 10_000,
            max_per_ip: 64,
            trust_proxy: TrustedProxies::default(),
            max_udp_peers: 1_000,
            max_line: 8 * 1024,
            udp_idle: Duration::from_secs(600),
            write_timeout: Duration::from_secs(2),
            max_outbox: 1 << 20,
            history: 20,
            announce_up_to: 100,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_head: 8 * 1024,
            first_line_wait: Duration::from_millis(100),
            allow_origins: Vec::new(),
            writers: 4,
            cluster: None,
            room: "main".into(),
            quiet: false,
            fault_injection: false,
            fail_nth_spawn: None,
        }
    }
}

impl ServerConfig {
    /// Every listener on `127.0.0.1:0` (a free port each), logs off, no per-address cap (every
    /// test client comes from 127.0.0.1) and no first-line wait (tests join a thousand silent
    /// TCP members one after another): what tests want.
    pub fn ephemeral() -> Self {
        ServerConfig {
            tcp: Some("127.0.0.1:0".into()),
            udp: Some("127.0.0.1:0".into()),
            ws: Some("127.0.0.1:0".into()),
            max_per_ip: 0,
            quiet: true,
            first_line_wait: Duration::ZERO,
            ..ServerConfig::default()
        }
    }
}
