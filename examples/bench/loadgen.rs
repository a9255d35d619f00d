//! `bench load-gen`: the room's members, in a process of their own.
//!
//! Thousands of members without a thread each: connector threads open the sockets (blocking
//! connect, then the upgrade request), and a few poller threads own them as non-blocking
//! sockets, sweeping them with `read` and sleeping briefly when a sweep finds nothing (std has
//! no epoll). The WebSocket is plainsock's own code: the request from `ws::handshake`, the
//! answer checked with `http::HeadParser` + `handshake::check_response`, server frames cut
//! with `ws::frame::FrameHeader::parse`, pongs encoded (masked) with `ws::frame::encode`.
//!
//! One more member, the sender, is a plain `ws::client` socket: every `interval` it sends
//! `#B<seq>:<ns>`, the wall-clock time in ns (one clock for every process on the machine, so a
//! line sent from one load generator is timed by another). Each member that receives it records
//! the latency; per message the slowest (the LAST member to get it) is what counts.
//!
//! Scenario 9 (`--coordinated 1`) runs several load generators against several servers: each
//! prints `ready=1` once its members are in, the one with the sender (`--sender 1`) sends when
//! its stdin says `go`, and every one reports, when told `end SENT`, its per-message counts and
//! slowest latencies (`slot_count=`, `slot_max_us=`) for the bench to add up.
//!
//! Results go to stdout as `key=value` lines; progress and errors to stderr.

use crate::stats::{ms, percentile};
use crate::sys;
use plainsock::http::{self, HeadParser};
use plainsock::url::Url;
use plainsock::ws::frame::{self, FrameHeader, Opcode};
use plainsock::ws::mask::MaskKeys;
use plainsock::ws::{self, Message, handshake};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A member's frames are chat lines; anything bigger is a broken server.
const MAX_FRAME: u64 = 1 << 20;
/// Longest nap of an idle poller: the resolution of every latency measured here.
const MAX_NAP: Duration = Duration::from_millis(1);
/// How often a busy poller adds its own counts to the shared ones.
const FLUSH_EVERY: Duration = Duration::from_millis(5);

struct Args {
    /// The servers; member `i` joins `ws[i % len]`, the sender the first.
    ws: Vec<SocketAddr>,
    members: usize,
    /// Broadcasts in series: `count` of them `interval` apart, then the next series.
    phases: Vec<(usize, Duration)>,
    pollers: usize,
    connectors: usize,
    server_pid: u32,
    deadline: Duration,
    /// Members that join after the others and never read again (scenario 8).
    stalled: usize,
    /// Bytes of each broadcast (padded).
    payload: usize,
    /// This process holds the sender (scenario 9: only one of the load generators does).
    sender: bool,
    /// Wait for `go` and `end SENT` on stdin; report per-message results (scenario 9).
    coordinated: bool,
    /// Report per-message results (`slot_count=`, `slot_max_us=`) without coordinating
    /// (scenario 8 plots its latency over time).
    per_message: bool,
    /// A member is in once it has its welcome (`--settle welcome`), not once it has seen the
    /// whole room joined: a cluster's room size comes from Redis, up to a second late.
    settle_on_welcome: bool,
    /// An idle poller rests this many times as long as its sweep took (1: half its time).
    idle_rest: u32,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        ws: Vec::new(),
        members: 10,
        phases: Vec::new(),
        pollers: 2,
        // Connects block; one whose SYN the kernel dropped waits a second for the retry, so
        // enough of them run side by side that such waits overlap.
        connectors: 16,
        server_pid: 0,
        deadline: Duration::from_secs(60),
        stalled: 0,
        payload: 0,
        sender: true,
        coordinated: false,
        per_message: false,
        settle_on_welcome: false,
        idle_rest: 1,
    };
    let (mut messages, mut interval) = (100, Duration::from_millis(5));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("bad {flag} {value}"))
        };
        match flag.as_str() {
            "--ws" => {
                parsed.ws = value
                    .split(',')
                    .map(|a| a.parse().map_err(|_| format!("bad --ws {value}")))
                    .collect::<Result<_, _>>()?
            }
            "--members" => parsed.members = num()? as usize,
            "--messages" => messages = num()? as usize,
            "--interval-ms" => interval = Duration::from_millis(num()?),
            // `20x500,1000x10`: 20 broadcasts 500 ms apart, then 1,000 10 ms apart.
            "--phases" => {
                parsed.phases = value
                    .split(',')
                    .map(|p| {
                        let (n, ms) = p.split_once('x')?;
                        Some((n.parse().ok()?, Duration::from_millis(ms.parse().ok()?)))
                    })
                    .collect::<Option<_>>()
                    .ok_or(format!("bad --phases {value}"))?
            }
            "--pollers" => parsed.pollers = num()?.max(1) as usize,
            "--connectors" => parsed.connectors = num()?.max(1) as usize,
            "--server-pid" => parsed.server_pid = num()? as u32,
            "--deadline-secs" => parsed.deadline = Duration::from_secs(num()?),
            "--stalled" => parsed.stalled = num()? as usize,
            "--payload" => parsed.payload = num()? as usize,
            "--sender" => parsed.sender = num()? != 0,
            "--coordinated" => parsed.coordinated = num()? != 0,
            "--per-message" => parsed.per_message = num()? != 0,
            "--settle" => parsed.settle_on_welcome = value == "welcome",
            "--idle-rest" => parsed.idle_rest = num()?.clamp(1, 100) as u32,
            _ => return Err(format!("unknown load-gen flag {flag}")),
        }
    }
    if parsed.ws.is_empty() {
        return Err("--ws ADDR[,ADDR...] is needed".into());
    }
    if parsed.phases.is_empty() {
        parsed.phases = vec![(messages, interval)];
    }
    Ok(parsed)
}

/// One broadcast message: when it left, how many members got it, the slowest of them.
#[derive(Default)]
struct Slot {
    count: AtomicUsize,
    max_ns: AtomicU64,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Members online once everyone joined (the sender included); 0 until known.
    target_online: AtomicUsize,
    opened: AtomicUsize,
    handshake_failed: AtomicUsize,
    /// Members the server closed after their handshake (evicted, or refused).
    closed: AtomicUsize,
    settled: AtomicUsize,
    deliveries: AtomicU64,
    last_delivery_ns: AtomicU64,
    slots: Vec<Slot>,
    handshake_ms: Mutex<Vec<f64>>,
    first_error: Mutex<Option<String>>,
    /// `* NICK dropped: too slow` notices: when each nick was first seen dropped (ns).
    dropped: Mutex<std::collections::HashMap<String, u64>>,
}

/// A poller's own delivery counts, added to the shared slots every few milliseconds: the
/// members who get a message at the same moment sit in several pollers, and one shared counter
/// bumped per delivery would bounce its cache line between their cores millions of times.
struct Tally {
    count: Vec<usize>,
    max_ns: Vec<u64>,
    /// Slots with counts not yet added.
    touched: Vec<usize>,
    deliveries: u64,
    last_ns: u64,
}

impl Tally {
    fn new(slots: usize) -> Tally {
        Tally {
            count: vec![0; slots],
            max_ns: vec![0; slots],
            touched: Vec::new(),
            deliveries: 0,
            last_ns: 0,
        }
    }

    fn add(&mut self, seq: usize, latency_ns: u64, now: u64) {
        if self.count[seq] == 0 {
            self.touched.push(seq);
        }
        self.count[seq] += 1;
        self.max_ns[seq] = self.max_ns[seq].max(latency_ns);
        self.deliveries += 1;
        self.last_ns = self.last_ns.max(now);
    }

    fn flush(&mut self, shared: &Shared) {
        for seq in self.touched.drain(..) {
            let slot = &shared.slots[seq];
            slot.max_ns.fetch_max(self.max_ns[seq], Ordering::Relaxed);
            slot.count.fetch_add(self.count[seq], Ordering::Relaxed);
            self.count[seq] = 0;
        }
        shared
            .deliveries
            .fetch_add(std::mem::take(&mut self.deliveries), Ordering::Relaxed);
        shared
            .last_delivery_ns
            .fetch_max(self.last_ns, Ordering::Relaxed);
    }
}

impl Shared {
    fn error(&self, what: String) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(what);
        }
    }
}

enum State {
    Handshake { parser: HeadParser, key: String },
    Open,
    Dead,
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// Bytes of a frame not complete yet.
    pending: Vec<u8>,
    started: Instant,
    /// The largest "(N online)" seen in a join notice.
    online_seen: usize,
    settled: bool,
}

pub fn main(args: &[String]) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load-gen: {e}");
            return 2;
        }
    };
    // The bench's orders (scenario 9) come on stdin, a line each. If the bench dies, our stdin
    // closes: leave then, never linger.
    let (orders_tx, orders) = mpsc::channel();
    thread::spawn(move || {
        for line in io::stdin().lines().map_while(Result::ok) {
            let _ = orders_tx.send(line);
        }
        std::process::exit(3);
    });
    match run(&args, &orders) {
        Ok(()) => 0,
        Err(e) => {
            println!("error={e}");
            eprintln!("load-gen: {e}");
            1
        }
    }
}

fn out(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

/// Waits (until `deadline`) for the order that starts with `word`; what follows it.
fn order(orders: &Receiver<String>, word: &str, deadline: Instant) -> io::Result<String> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = orders
            .recv_timeout(left)
            .map_err(|_| io::Error::other(format!("no `{word}` from the bench in time")))?;
        if let Some(rest) = line.strip_prefix(word) {
            return Ok(rest.trim().to_string());
        }
    }
}

/// Nanoseconds of the wall clock: the same clock in every process of the machine.
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn run(args: &Args, orders: &Receiver<String>) -> io::Result<()> {
    let epoch = Instant::now();
    let pid = args.server_pid;
    let self_cpu = || sys::cpu_seconds("self").unwrap_or(0.0);
    let server_cpu = || sys::cpu_seconds(&pid.to_string()).unwrap_or(0.0);
    out("rss_empty_bytes", sys::rss_bytes(pid).unwrap_or(0));
    let url_texts: Vec<String> = args.ws.iter().map(|a| format!("ws://{a}/ws")).collect();
    let urls = url_texts
        .iter()
        .map(|u| Url::parse(u).map_err(|e| io::Error::other(e.0)))
        .collect::<io::Result<Vec<Url>>>()?;
    let url_text = &url_texts[0];
    let messages: usize = args.phases.iter().map(|(n, _)| n).sum();

    let shared = Arc::new(Shared {
        slots: (0..messages).map(|_| Slot::default()).collect(),
        ..Shared::default()
    });

    // The sender joins first; its own copies are read and dropped by a drain thread, which
    // counts the lines the server says it could not pass on.
    let mut sender = None;
    let mut drain = None;
    let refused = Arc::new(AtomicUsize::new(0));
    if args.sender {
        let socket = ws::client::connect(url_text).map_err(|e| io::Error::other(e.to_string()))?;
        let _ = socket.get_ref().set_nodelay(true);
        let (mut reader, writer) = socket.split();
        let refused = refused.clone();
        drain = Some(thread::spawn(move || {
            while let Ok(message) = reader.read() {
                if let Message::Text(line) = message
                    && line.contains("your line was not delivered")
                {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        sender = Some(writer);
    }

    let mut inboxes = Vec::new();
    let mut pollers = Vec::new();
    for n in 0..args.pollers {
        let (tx, rx) = mpsc::channel();
        let (shared, rest) = (shared.clone(), args.idle_rest);
        inboxes.push(tx);
        pollers.push(
            thread::Builder::new()
                .name(format!("poller-{n}"))
                .spawn(move || poll(rx, &shared, now_ns, rest))?,
        );
    }

    // Connect everyone.
    let (cpu0, server_cpu0) = (self_cpu(), server_cpu());
    let connect_start = Instant::now();
    let connect_ms = Arc::new(Mutex::new(Vec::with_capacity(args.members)));
    let connect_failed = Arc::new(AtomicUsize::new(0));
    let mut connectors = Vec::new();
    for k in 0..args.connectors {
        let inboxes: Vec<Sender<Conn>> = inboxes.clone();
        let (urls, shared, connect_ms, failed) = (
            urls.clone(),
            shared.clone(),
            connect_ms.clone(),
            connect_failed.clone(),
        );
        let (addrs, members, step) = (args.ws.clone(), args.members, args.connectors);
        connectors.push(thread::spawn(move || {
            let mut times = Vec::new();
            for i in (k..members).step_by(step) {
                match open(addrs[i % addrs.len()], &urls[i % urls.len()]) {
                    Ok(conn) => {
                        times.push(ms(conn.started.elapsed()));
                        let _ = inboxes[i % inboxes.len()].send(conn);
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        shared.error(explain(&e));
                    }
                }
            }
            if let Ok(mut all) = connect_ms.lock() {
                all.extend(times);
            }
        }));
    }
    for c in connectors {
        let _ = c.join();
    }
    let connected = args.members - connect_failed.load(Ordering::Relaxed);
    let deadline = epoch + args.deadline;
    let wait = |done: &dyn Fn() -> bool| {
        while !done() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
        done()
    };
    wait(&|| {
        shared.opened.load(Ordering::Relaxed) + shared.handshake_failed.load(Ordering::Relaxed)
            >= connected
    });
    let opened = shared.opened.load(Ordering::Relaxed);
    let target = if args.settle_on_welcome {
        1
    } else {
        opened + usize::from(args.sender)
    };
    shared.target_online.store(target, Ordering::Relaxed);
    let connect_all = connect_start.elapsed();
    let settled = wait(&|| {
        shared.settled.load(Ordering::Relaxed) + shared.closed.load(Ordering::Relaxed) >= opened
    });
    let settle_all = connect_start.elapsed();
    let (cpu1, server_cpu1) = (self_cpu(), server_cpu());
    let connect_ms = connect_ms.lock().map(|v| v.clone()).unwrap_or_default();
    let handshake_ms = shared
        .handshake_ms
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    out("members", args.members);
    out("connected", connected);
    out("opened", opened);
    out("connect_failed", args.members - connected);
    out(
        "handshake_failed",
        shared.handshake_failed.load(Ordering::Relaxed),
    );
    out("connect_p50_ms", percentile(&connect_ms, 50.0));
    out("connect_p99_ms", percentile(&connect_ms, 99.0));
    out("connect_max_ms", percentile(&connect_ms, 100.0));
    out(
        "connect_slow",
        connect_ms.iter().filter(|&&t| t >= 900.0).count(),
    );
    out("handshake_p99_ms", percentile(&handshake_ms, 99.0));
    out("connect_all_ms", ms(connect_all));
    out("settled", settled);
    out("settle_all_ms", ms(settle_all));
    out("rss_idle_bytes", sys::rss_bytes(pid).unwrap_or(0));
    out("threads_idle", sys::threads(pid).unwrap_or(0));
    out("server_cpu_connect_s", server_cpu1 - server_cpu0);
    out("loadgen_cpu_connect_s", cpu1 - cpu0);
    eprintln!(
        "load-gen: {opened} members joined in {:.1} s, room settled in {:.1} s",
        connect_all.as_secs_f64(),
        settle_all.as_secs_f64()
    );

    // Members that never read (scenario 8): each reads its welcome, for its nick, and no more.
    let mut stalled = Vec::new();
    for _ in 0..args.stalled {
        let mut socket =
            ws::client::connect(url_text).map_err(|e| io::Error::other(e.to_string()))?;
        let nick = match socket.read() {
            Ok(Message::Text(welcome)) => welcome
                .strip_prefix("* welcome, you are ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        stalled.push((nick, socket));
    }
    let peak_rss = Arc::new(AtomicU64::new(sys::rss_bytes(pid).unwrap_or(0)));
    let sampler = {
        let (peak_rss, shared) = (peak_rss.clone(), shared.clone());
        thread::spawn(move || {
            while !shared.stop.load(Ordering::Relaxed) {
                peak_rss.fetch_max(sys::rss_bytes(pid).unwrap_or(0), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let padding = " ".to_string() + &"p".repeat(args.payload.saturating_sub(40));

    if args.coordinated {
        out("ready", 1);
        order(orders, "go", deadline)?;
    }

    // Broadcasts: each series starts one interval of the previous after its last line.
    let alive = opened - shared.closed.load(Ordering::Relaxed);
    let first_send = now_ns();
    let send_start = Instant::now();
    let mut sent = 0;
    if let Some(sender) = &sender {
        let mut due = send_start;
        'phases: for (phase, &(count, interval)) in args.phases.iter().enumerate() {
            for n in 0..count {
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                if n == 0 {
                    // As its first line leaves: the bench times this phase from here.
                    out("phase", phase);
                }
                let ns = now_ns();
                if let Err(e) = sender.send(Message::Text(format!("#B{sent}:{ns}{padding}"))) {
                    shared.error(format!("sender: {e}"));
                    break 'phases;
                }
                sent += 1;
                due += interval;
            }
        }
    }
    if args.coordinated {
        // The sender may be in another process: the bench says how many it sent.
        if args.sender {
            out("sending_done", sent);
        }
        let told = order(orders, "end", deadline)?;
        sent = told.parse::<usize>().unwrap_or(0).min(shared.slots.len());
    }
    let last_send = Instant::now();
    let complete = |shared: &Shared| {
        shared.slots[..sent]
            .iter()
            .all(|s| s.count.load(Ordering::Relaxed) >= alive)
    };
    // Late is not lost: in scenario 9 a room over its CPU drains its backlog after the last
    // line, so the wait ends only once nothing has arrived for 10 s. Otherwise 5 s at most.
    let (mut progress, mut seen) = (Instant::now(), 0);
    while !complete(&shared) && Instant::now() < deadline {
        let now = shared.deliveries.load(Ordering::Relaxed);
        if now != seen {
            (progress, seen) = (Instant::now(), now);
        }
        let done = if args.coordinated {
            progress.elapsed() >= Duration::from_secs(10)
        } else {
            last_send.elapsed() >= Duration::from_secs(5)
        };
        if done {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    let (cpu2, server_cpu2) = (self_cpu(), server_cpu());
    let slots = &shared.slots[..sent];
    let last_ms: Vec<f64> = slots
        .iter()
        .filter(|s| s.count.load(Ordering::Relaxed) >= alive)
        .map(|s| s.max_ns.load(Ordering::Relaxed) as f64 / 1e6)
        .collect();
    let deliveries = shared.deliveries.load(Ordering::Relaxed);
    let span = shared
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .saturating_sub(first_send) as f64
        / 1e9;
    out("alive", alive);
    out("sent", sent);
    out("complete", last_ms.len());
    out("deliveries", deliveries);
    out(
        "deliveries_per_s",
        if span > 0.0 {
            deliveries as f64 / span
        } else {
            0.0
        },
    );
    out(
        "missing",
        (sent as u64 * alive as u64).saturating_sub(deliveries),
    );
    out("last_p50_ms", percentile(&last_ms, 50.0));
    out("last_p99_ms", percentile(&last_ms, 99.0));
    out("last_max_ms", percentile(&last_ms, 100.0));
    out("closed", shared.closed.load(Ordering::Relaxed));
    out("not_delivered", refused.load(Ordering::Relaxed));
    if args.coordinated || args.per_message {
        let list = |value: &dyn Fn(&Slot) -> u64| {
            slots
                .iter()
                .map(|s| value(s).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        out(
            "slot_count",
            list(&|s| s.count.load(Ordering::Relaxed) as u64),
        );
        out(
            "slot_max_us",
            list(&|s| s.max_ns.load(Ordering::Relaxed) / 1000),
        );
    }
    if args.stalled > 0 {
        // Give the last evictions time to be announced: write timeout + 1 s after the end.
        let until = Instant::now() + Duration::from_secs(4);
        let all_dropped = |shared: &Shared| {
            let dropped = shared.dropped.lock().map(|d| d.clone()).unwrap_or_default();
            stalled.iter().all(|(nick, _)| dropped.contains_key(nick))
        };
        while !all_dropped(&shared) && Instant::now() < until {
            thread::sleep(Duration::from_millis(10));
        }
        let dropped = shared.dropped.lock().map(|d| d.clone()).unwrap_or_default();
        let evicted_ms: Vec<f64> = stalled
            .iter()
            .filter_map(|(nick, _)| dropped.get(nick))
            .map(|&ns| ns.saturating_sub(first_send) as f64 / 1e6)
            .collect();
        let honest_dropped = dropped
            .keys()
            .filter(|nick| !stalled.iter().any(|(n, _)| n == *nick))
            .count();
        out("stalled", stalled.len());
        out("stalled_evicted", evicted_ms.len());
        out("evicted_first_ms", percentile(&evicted_ms, 0.0));
        out("evicted_max_ms", percentile(&evicted_ms, 100.0));
        out("honest_dropped", honest_dropped);
    }
    out("peak_rss_bytes", peak_rss.load(Ordering::Relaxed));
    out("rss_after_bytes", sys::rss_bytes(pid).unwrap_or(0));
    out("threads_after", sys::threads(pid).unwrap_or(0));
    out("server_cpu_broadcast_s", server_cpu2 - server_cpu1);
    out("loadgen_cpu_broadcast_s", cpu2 - cpu1);
    out("broadcast_s", send_start.elapsed().as_secs_f64());
    if let Ok(Some(e)) = shared.first_error.lock().map(|e| e.clone()) {
        out("first_error", e);
    }

    shared.stop.store(true, Ordering::Relaxed);
    for p in pollers {
        let _ = p.join();
    }
    let _ = sampler.join();
    drop(stalled);
    if let Some(sender) = sender {
        let _ = sender.close(1000, "bench done");
        let _ = sender.shutdown();
    }
    if let Some(drain) = drain {
        let _ = drain.join();
    }
    out("done", 1);
    Ok(())
}

/// Connects one member and sends its upgrade request; the poller reads the answer.
fn open(addr: SocketAddr, url: &Url) -> io::Result<Conn> {
    let started = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(15))?;
    stream.set_nodelay(true)?;
    let key = handshake::new_key();
    let request = handshake::client_request(url, &key, &[]).map_err(io::Error::other)?;
    stream.write_all(&request)?;
    stream.set_nonblocking(true)?;
    Ok(Conn {
        stream,
        state: State::Handshake {
            parser: HeadParser::new(8 * 1024),
            key,
        },
        pending: Vec::new(),
        started,
        online_seen: 0,
        settled: false,
    })
}

/// An error in words a person can act on.
fn explain(e: &io::Error) -> String {
    if e.raw_os_error() == Some(24) {
        "too many open files: raise the limit (ulimit -n 20000) and run again".into()
    } else if e.raw_os_error() == Some(99) {
        "no free local port (EADDRNOTAVAIL): widen net.ipv4.ip_local_port_range".into()
    } else {
        format!("connect: {e}")
    }
}

/// A poller: owns its members' sockets and sweeps them until told to stop.
fn poll(inbox: Receiver<Conn>, shared: &Shared, now_ns: impl Fn() -> u64, idle_rest: u32) {
    let mut conns: Vec<Conn> = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut keys = MaskKeys::new();
    let mut nap = Duration::from_micros(20);
    let mut tally = Tally::new(shared.slots.len());
    let mut flushed = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        while let Ok(conn) = inbox.try_recv() {
            conns.push(conn);
        }
        let target = shared.target_online.load(Ordering::Relaxed);
        let mut busy = false;
        let sweep = Instant::now();
        for conn in conns.iter_mut() {
            // A few reads per member per sweep, so one busy member cannot starve the rest.
            for _ in 0..4 {
                match conn.stream.read(&mut scratch) {
                    Ok(0) => {
                        conn.die(shared, "closed by the server");
                        break;
                    }
                    Ok(n) => {
                        busy = true;
                        conn.receive(&scratch[..n], shared, &now_ns, &mut keys, &mut tally);
                        if n < scratch.len() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        conn.die(shared, &format!("read: {e}"));
                        break;
                    }
                }
                if matches!(conn.state, State::Dead) {
                    break;
                }
            }
            if !conn.settled && target > 0 && conn.online_seen >= target {
                conn.settled = true;
                shared.settled.fetch_add(1, Ordering::Relaxed);
            }
        }
        conns.retain(|c| !matches!(c.state, State::Dead));
        if !busy || flushed.elapsed() >= FLUSH_EVERY {
            tally.flush(shared);
            flushed = Instant::now();
        }
        if busy {
            nap = Duration::from_micros(20);
        } else {
            thread::sleep(nap);
            // An idle sweep over thousands of sockets costs a syscall each: rest at least as
            // long as it took (or `idle_rest` times that), so idle masses do not eat the CPU
            // the server needs.
            nap = (nap * 2).min(MAX_NAP.max(sweep.elapsed() * idle_rest));
        }
    }
    tally.flush(shared);
}

impl Conn {
    fn die(&mut self, shared: &Shared, why: &str) {
        match self.state {
            State::Handshake { .. } => {
                shared.handshake_failed.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("handshake: {why}"));
            }
            State::Open => {
                shared.closed.fetch_add(1, Ordering::Relaxed);
                shared.error(format!("member: {why}"));
            }
            State::Dead => {}
        }
        self.state = State::Dead;
    }

    fn receive(
        &mut self,
        bytes: &[u8],
        shared: &Shared,
        now_ns: &impl Fn() -> u64,
        keys: &mut MaskKeys,
        tally: &mut Tally,
    ) {
        // The bytes that carry frames: all of them once open, the handshake's leftover before.
        let mut bytes = bytes;
        match &mut self.state {
            State::Dead => return,
            State::Open => {}
            State::Handshake { parser, .. } => match parser.feed(bytes) {
                Ok(false) => return,
                Ok(true) => {
                    let State::Handshake { parser, key } =
                        std::mem::replace(&mut self.state, State::Open)
                    else {
                        return;
                    };
                    let checked = parser
                        .into_parts()
                        .ok_or_else(|| "no head".to_string())
                        .and_then(|(head, leftover)| {
                            let resp = http::parse_response(&head).map_err(|e| e.reason)?;
                            handshake::check_response(&resp, &key, &[])
                                .map_err(|e| format!("{} {e}", resp.status))?;
                            Ok(leftover)
                        });
                    match checked {
                        Ok(leftover) => {
                            shared.opened.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut all) = shared.handshake_ms.lock() {
                                all.push(ms(self.started.elapsed()));
                            }
                            self.pending.extend_from_slice(&leftover);
                            bytes = &[];
                        }
                        Err(why) => {
                            self.state = State::Handshake {
                                parser: HeadParser::new(0),
                                key: String::new(),
                            };
                            self.die(shared, &why);
                            return;
                        }
                    }
                }
                Err(e) => {
                    self.die(shared, &e.reason);
                    return;
                }
            },
        }
        // Frames are cut from what was just read, without copying it, unless part of a frame
        // was left over from the read before (then the bytes join it in `pending`).
        let mut pending = std::mem::take(&mut self.pending);
        let data: &[u8] = if pending.is_empty() {
            bytes
        } else {
            pending.extend_from_slice(bytes);
            &pending
        };
        let mut at = 0;
        loop {
            let (header, header_len) = match FrameHeader::parse(&data[at..]) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(e) => {
                    self.die(shared, &format!("bad frame from the server: {e:?}"));
                    return;
                }
            };
            if header.payload_len > MAX_FRAME {
                self.die(shared, "frame over 1 MiB from the chat server");
                return;
            }
            let end = at + header_len + header.payload_len as usize;
            let Some(payload) = data.get(at + header_len..end) else {
                break;
            };
            match header.opcode {
                Opcode::Text => on_line(payload, &mut self.online_seen, shared, now_ns, tally),
                Opcode::Ping => {
                    let mut pong = Vec::new();
                    frame::encode(
                        true,
                        Opcode::Pong,
                        Some(keys.next_key()),
                        payload,
                        &mut pong,
                    );
                    let _ = self.stream.write(&pong);
                }
                Opcode::Close => {
                    self.die(shared, "close frame from the server");
                    return;
                }
                _ => {}
            }
            at = end;
        }
        if pending.is_empty() {
            self.pending.extend_from_slice(&bytes[at..]);
        } else {
            pending.drain(..at);
            if pending.capacity() > 64 * 1024 && pending.len() < 1024 {
                pending.shrink_to(4 * 1024);
            }
            self.pending = pending;
        }
    }
}

/// A chat line: a benchmark message (`NICK: #B<seq>:<ns>`) or a notice with the room's size.
fn on_line(
    line: &[u8],
    online_seen: &mut usize,
    shared: &Shared,
    now_ns: &impl Fn() -> u64,
    tally: &mut Tally,
) {
    {
        if let Some(at) = find(line, b"#B") {
            // `#B<seq>:<ns>`, then padding after a space (not worth checking byte by byte).
            let stamp = &line[at + 2..];
            let stamp = &stamp[..stamp.iter().position(|&b| b == b' ').unwrap_or(stamp.len())];
            let text = std::str::from_utf8(stamp).unwrap_or("");
            let Some((seq, ns)) = text.split_once(':') else {
                return;
            };
            let (Ok(seq), Ok(sent)) = (seq.parse::<usize>(), ns.trim().parse::<u64>()) else {
                return;
            };
            if seq >= shared.slots.len() {
                return;
            }
            let now = now_ns();
            tally.add(seq, now.saturating_sub(sent), now);
        } else if let Some(rest) = line.strip_prefix(b"* ")
            && let Some(at) = find(rest, b" dropped: too slow")
        {
            let nick = String::from_utf8_lossy(&rest[..at]).into_owned();
            if let Ok(mut dropped) = shared.dropped.lock() {
                dropped.entry(nick).or_insert_with(now_ns);
            }
        } else if line.starts_with(b"* ")
            && let Some(at) = line.iter().rposition(|&b| b == b'(')
        {
            // Joins, summaries and the welcome end with the room's size: "(N online…".
            let digits: String = line[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|&b| b as char)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                *online_seen = (*online_seen).max(n);
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
