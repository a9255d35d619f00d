//! Scenario 10: "refreshing data by asking again and again is very inefficient", measured.
//! The same clients get one chat line a second, three ways:
//!
//! * short polling: each asks `GET /history?after=SEQ` once a second on a kept-alive connection;
//! * Engine.IO long polling at `/socket.io/`: a held `GET`, asked again as soon as it is
//!   answered, and a `POST` for each pong;
//! * WebSocket at `/ws`: each line arrives as one frame, nobody asks.
//!
//! A TCP member sends the lines, each carrying the time it left (`#P<seq>:<ns>`, ns since this
//! process started; the clients run here too, so the clocks agree). Every client counts what it
//! writes and reads on its sockets: the application layer's bytes (TCP payload, HTTP heads and
//! WebSocket frames included; TCP/IP headers and ACKs not), and its requests. The server's CPU
//! comes from /proc/PID/stat. Everything is counted in a window: from the first line sent to
//! the last one delivered, after every client has joined and the room has gone quiet.
//!
//! A client is a thread with blocking sockets: 100 is not scenario 7's 10,000. Every read has a
//! timeout, every loop a bound; at the end the server is killed, which ends every socket.

use crate::report::{csv_field, out_dir};
use crate::room::{self, Ports};
use crate::stats::{Goal, Row, median, number, percentile};
use crate::sys;
use plainsock::engineio::{Data, Packet, packet};
use plainsock::http::{self, HeadParser, Response};
use plainsock::json::{self, Json};
use plainsock::socketio;
use plainsock::url::Url;
use plainsock::ws::{self, Message, Role, handshake};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Joins and renames are announced one by one, so a client knows when the room is quiet.
const ANNOUNCE_ALL: usize = 100_000;
/// How long clients may take to join, and the room to settle.
const SETUP: Duration = Duration::from_secs(20);
/// The longest a held poll waits: Engine.IO's ping interval (25 s), and a margin.
const HELD_POLL: Duration = Duration::from_secs(40);
/// How often a blocked WebSocket or sender read wakes to look at the stop flag.
const WAKE: Duration = Duration::from_secs(1);
/// Bounds on what the server may send one client.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1 << 20;
/// Far more reads or polls than a run needs: a bound on every client loop.
const MAX_READS: usize = 1_000_000;
/// The notice every member sees when the sender has joined: after it, only the lines come.
const SENDER_ARRIVED: &str = " is now sender";

pub struct Plan {
    pub clients: usize,
    pub messages: usize,
    pub interval: Duration,
    /// Before the first line: a while with nothing said, to see what asking costs alone.
    pub quiet: Duration,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    WebSocket,
    LongPolling,
    ShortPolling,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::WebSocket, Mode::LongPolling, Mode::ShortPolling];

    fn name(self) -> &'static str {
        match self {
            Mode::WebSocket => "WebSocket /ws",
            Mode::LongPolling => "long polling /socket.io/",
            Mode::ShortPolling => "short polling /history",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Mode::WebSocket => "websocket",
            Mode::LongPolling => "long_polling",
            Mode::ShortPolling => "short_polling",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Mode::WebSocket => "#2ca02c",
            Mode::LongPolling => "#1f77b4",
            Mode::ShortPolling => "#d62728",
        }
    }
}

/// One mode's run, everything shared by its clients.
#[derive(Default)]
struct Counters {
    stop: AtomicBool,
    read: AtomicU64,
    written: AtomicU64,
    requests: AtomicU64,
    /// Clients in the room (welcomed), or for short polling with a first answer.
    joined: AtomicUsize,
    /// Clients that saw the sender arrive: from then on the room sends them only the lines.
    settled: AtomicUsize,
    delivered: AtomicU64,
    /// What `/history` said was no longer in the history.
    missed: AtomicU64,
    latency_ms: Mutex<Vec<f64>>,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn error(&self, what: String) {
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(what);
        }
    }

    fn first_error(&self) -> String {
        self.first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default()
    }

    /// Bytes both ways and requests so far.
    fn traffic(&self) -> (u64, u64) {
        let bytes = self.read.load(Ordering::Relaxed) + self.written.load(Ordering::Relaxed);
        (bytes, self.requests.load(Ordering::Relaxed))
    }
}

/// Tells every client to stop when dropped: on success, on error, and while a panic unwinds.
struct StopOnDrop(Arc<Counters>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

/// A client's socket, counting the bytes each way.
struct Wire {
    stream: TcpStream,
    counters: Arc<Counters>,
}

/// A connection whose every read waits at most `read_timeout`.
fn dial(addr: SocketAddr, read_timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(read_timeout))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        self.counters.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// HTTP/1.1 on one kept-alive connection, as small as a client can send it (a browser adds a
/// few hundred bytes of headers to each request: User-Agent, Accept, cookies).
struct Http {
    wire: Wire,
    host: String,
    leftover: Vec<u8>,
}

impl Http {
    fn connect(addr: SocketAddr, counters: &Arc<Counters>, timeout: Duration) -> io::Result<Http> {
        let stream = dial(addr, timeout)?;
        let counters = counters.clone();
        let (wire, host) = (Wire { stream, counters }, addr.to_string());
        let leftover = Vec::new();
        Ok(Http {
            wire,
            host,
            leftover,
        })
    }

    /// One request and its answer: status and body. Anything but 200 is an error.
    fn exchange(&mut self, method: &str, target: &str, body: &str) -> io::Result<String> {
        let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if method == "POST" {
            let _ = write!(
                out,
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        out.push_str("\r\n");
        out.push_str(body);
        self.wire.write_all(out.as_bytes())?;
        self.wire.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (response, body) = self.response()?;
        let body = String::from_utf8(body).map_err(|_| io::Error::other("a body not UTF-8"))?;
        if response.status != 200 {
            return Err(io::Error::other(format!(
                "{method} {target}: {} {body}",
                response.status
            )));
        }
        Ok(body)
    }

    /// Reads one response: its head, then its `Content-Length` body (none for a 101).
    fn response(&mut self) -> io::Result<(Response, Vec<u8>)> {
        let bad = |e: http::HttpError| io::Error::other(e.reason);
        let closed = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )
        };
        let mut parser = HeadParser::for_response(MAX_HEAD);
        let mut buf = [0u8; 16 * 1024];
        let mut done = parser
            .feed(&std::mem::take(&mut self.leftover))
            .map_err(bad)?;
        while !done {
            let n = self.wire.read(&mut buf)?;
            if n == 0 {
                return Err(closed());
            }
            done = parser.feed(&buf[..n]).map_err(bad)?;
        }
        let (head, mut rest) = parser.into_parts().ok_or_else(closed)?;
        let response = http::parse_response(&head).map_err(bad)?;
        let length = match response.header("Content-Length") {
            None if response.status == 101 => 0,
            length => length
                .and_then(|n| n.parse().ok())
                .filter(|&n| n <= MAX_BODY)
                .ok_or_else(|| io::Error::other("no Content-Length up to 1 MiB"))?,
        };
        while rest.len() < length {
            let n = self.wire.read(&mut buf)?;
            if n == 0 {
                return Err(closed());
            }
            rest.extend_from_slice(&buf[..n]);
        }
        self.leftover = rest.split_off(length);
        Ok((response, rest))
    }
}

/// What one receiving client knows: which lines it has had.
struct Inbox {
    counters: Arc<Counters>,
    epoch: Instant,
    seen: Vec<bool>,
    joined: bool,
    settled: bool,
}

impl Inbox {
    fn new(counters: &Arc<Counters>, epoch: Instant, messages: usize) -> Inbox {
        Inbox {
            counters: counters.clone(),
            epoch,
            seen: vec![false; messages],
            joined: false,
            settled: false,
        }
    }

    /// A room line: a measured one (`sender: #P<seq>:<ns>`), or a notice.
    fn line(&mut self, line: &str) {
        if let Some((seq, sent_ns)) = line
            .split_once("#P")
            .and_then(|(_, rest)| rest.split_once(':'))
            .and_then(|(seq, ns)| Some((seq.parse::<usize>().ok()?, ns.parse::<u64>().ok()?)))
        {
            if let Some(seen) = self.seen.get_mut(seq).filter(|seen| !**seen) {
                *seen = true;
                let now = self.epoch.elapsed().as_nanos() as u64;
                let ms = now.saturating_sub(sent_ns) as f64 / 1e6;
                if let Ok(mut all) = self.counters.latency_ms.lock() {
                    all.push(ms);
                }
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
        } else if line.starts_with("* welcome, you are ") {
            self.join();
        } else if line.ends_with(SENDER_ARRIVED) {
            self.settle();
        }
    }

    fn join(&mut self) {
        if !std::mem::replace(&mut self.joined, true) {
            self.counters.joined.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn settle(&mut self) {
        if !std::mem::replace(&mut self.settled, true) {
            self.counters.settled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A WebSocket member: the upgrade, then frames until told to stop.
fn websocket(addr: SocketAddr, mut inbox: Inbox) -> io::Result<()> {
    let mut http = Http::connect(addr, &inbox.counters, WAKE)?;
    let url = Url::parse(&format!("ws://{addr}/ws")).map_err(|e| io::Error::other(e.0))?;
    let key = handshake::new_key();
    let request = handshake::client_request(&url, &key, &[]).map_err(io::Error::other)?;
    http.wire.write_all(&request)?;
    let (response, _) = http.response()?;
    handshake::check_response(&response, &key, &[]).map_err(|e| io::Error::other(e.to_string()))?;
    let Http { wire, leftover, .. } = http;
    let mut socket = ws::WebSocket::from_parts(wire, Role::Client, leftover, ws::Config::default());
    for _ in 0..MAX_READS {
        if inbox.counters.stopped() {
            break;
        }
        match socket.read() {
            Ok(Message::Text(line)) => inbox.line(&line),
            Ok(Message::Close(_)) => return Err(io::Error::other("closed by the server")),
            Ok(_) => {}
            Err(ws::Error::Io(e)) if is_timeout(&e) => {}
            Err(e) => return Err(io::Error::other(e.to_string())),
        }
    }
    Ok(())
}

/// An Engine.IO long-polling member of namespace `/`: one connection for its held `GET`s, one
/// for its `POST`s (the namespace CONNECT, and a pong for each ping).
fn long_polling(addr: SocketAddr, mut inbox: Inbox) -> io::Result<()> {
    let mut get = Http::connect(addr, &inbox.counters, HELD_POLL)?;
    let mut post = Http::connect(addr, &inbox.counters, HELD_POLL)?;
    let open = get.exchange("GET", "/socket.io/?EIO=4&transport=polling", "")?;
    let open = open
        .strip_prefix('0')
        .and_then(|json| json::parse(json).ok())
        .ok_or_else(|| io::Error::other(format!("not an open packet: {open}")))?;
    let sid = open.get("sid").as_str().unwrap_or_default();
    let target = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let mut post_ok = |payload: &str| match post.exchange("POST", &target, payload)?.as_str() {
        "ok" => Ok(()),
        other => Err(io::Error::other(format!("POST answered {other}"))),
    };
    post_ok("40")?;
    let mut decoder = socketio::packet::Decoder::new(0, json::Limits::default());
    for _ in 0..MAX_READS {
        if inbox.counters.stopped() {
            return Ok(());
        }
        let payload = get.exchange("GET", &target, "")?;
        let packets = packet::decode_payload(payload.as_bytes())
            .map_err(|e| io::Error::other(format!("{e}: {payload}")))?;
        for packet in packets {
            match packet {
                Packet::Ping(_) => post_ok("3")?,
                Packet::Close => return Err(io::Error::other("session closed by the server")),
                Packet::Message(Data::Text(text)) => {
                    let event = decoder.text(&text).ok().flatten();
                    if let Some(event) = event.filter(|e| e.event_name() == Some("chat message"))
                        && let Some(line) = event.args().first().and_then(Json::as_str)
                    {
                        inbox.line(line);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A short-polling reader: `GET /history?after=SEQ` every `interval`, from `phase` on (the
/// clients' polls are spread over the interval, as independent browsers' would be).
fn short_polling(
    addr: SocketAddr,
    mut inbox: Inbox,
    interval: Duration,
    phase: Duration,
) -> io::Result<()> {
    let mut http = Http::connect(addr, &inbox.counters, HELD_POLL)?;
    let start = Instant::now() + phase;
    let mut after = 0;
    for k in 0..MAX_READS as u32 {
        let due = start + interval * k;
        while let Some(wait) = due.checked_duration_since(Instant::now()) {
            if inbox.counters.stopped() {
                return Ok(());
            }
            thread::sleep(wait.min(WAKE));
        }
        if inbox.counters.stopped() {
            return Ok(());
        }
        let body = http.exchange("GET", &format!("/history?after={after}"), "")?;
        let page = json::parse(&body).map_err(|e| io::Error::other(format!("{e}: {body}")))?;
        after = page
            .get("next")
            .as_u64()
            .ok_or_else(|| io::Error::other(format!("no next in {body}")))?;
        let missed = page.get("missed").as_u64().unwrap_or(0);
        inbox.counters.missed.fetch_add(missed, Ordering::Relaxed);
        for line in page.get("lines").as_array().unwrap_or_default() {
            inbox.line(line.as_str().unwrap_or_default());
        }
        // Not a member: once it has an answer, it is in.
        inbox.join();
        inbox.settle();
    }
    Ok(())
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The member that says the lines, over TCP, renamed `sender` so the others know it is there;
/// its own copies of the room's lines are read and dropped by a thread of its own.
fn join_sender(
    tcp: SocketAddr,
    counters: &Arc<Counters>,
) -> io::Result<(TcpStream, JoinHandle<()>)> {
    let mut stream = dial(tcp, WAKE)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut welcome = String::new();
    let deadline = Instant::now() + SETUP;
    while !welcome.starts_with("* welcome") && Instant::now() < deadline {
        welcome.clear();
        match reader.read_line(&mut welcome) {
            Ok(0) => return Err(io::Error::other("the server closed the sender")),
            Ok(_) => {}
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
    stream.write_all(b"/nick sender\n")?;
    let counters = counters.clone();
    let drain = thread::spawn(move || {
        let mut line = String::new();
        for _ in 0..MAX_READS {
            if counters.stopped() {
                return;
            }
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {}
                Err(_) => return,
            }
        }
    });
    Ok((stream, drain))
}

/// Waits until `done` holds, at most `limit`; says whether it held.
fn wait_until(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// What one mode measured in its window.
struct Outcome {
    mode: Mode,
    sent: usize,
    /// Lines sent x clients.
    expected: u64,
    delivered: u64,
    bytes: u64,
    requests: u64,
    cpu_s: f64,
    latency_ms: Vec<f64>,
    missed: u64,
    /// While nothing was said: per client and second.
    idle_bytes_per_s: f64,
    idle_requests_per_s: f64,
    trouble: String,
}

impl Outcome {
    fn per_message(&self, x: f64) -> f64 {
        if self.delivered == 0 {
            f64::NAN
        } else {
            x / self.delivered as f64
        }
    }

    fn bytes_per_message(&self) -> f64 {
        self.per_message(self.bytes as f64)
    }

    fn requests_per_message(&self) -> f64 {
        self.per_message(self.requests as f64)
    }

    fn cpu_us_per_message(&self) -> f64 {
        self.per_message(self.cpu_s * 1e6)
    }

    fn p50_ms(&self) -> f64 {
        median(&self.latency_ms)
    }

    fn p99_ms(&self) -> f64 {
        percentile(&self.latency_ms, 99.0)
    }
}

/// Runs one mode: a fresh server, the clients, the sender, `plan.messages` lines.
fn measure(mode: Mode, plan: &Plan) -> io::Result<Outcome> {
    let (mut server, Ports { tcp, ws }) = room::start_server(plan.clients, ANNOUNCE_ALL, &[])?;
    let tcp = tcp.ok_or_else(|| io::Error::other("plainsock serve printed no tcp address"))?;
    let counters = Arc::new(Counters::default());
    let stop = StopOnDrop(counters.clone());
    let epoch = Instant::now();
    let mut clients = Vec::new();
    for i in 0..plan.clients {
        let inbox = Inbox::new(&counters, epoch, plan.messages);
        let counters = counters.clone();
        let phase = plan.interval * i as u32 / plan.clients as u32;
        let interval = plan.interval;
        let client = move || {
            let result = match mode {
                Mode::WebSocket => websocket(ws, inbox),
                Mode::LongPolling => long_polling(ws, inbox),
                Mode::ShortPolling => short_polling(ws, inbox, interval, phase),
            };
            if let Err(e) = result
                && !counters.stopped()
            {
                counters.error(format!("client {i}: {e}"));
            }
        };
        clients.push(
            thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(client)?,
        );
    }
    let all = plan.clients;
    let count = |n: &AtomicUsize| n.load(Ordering::Relaxed);
    if !wait_until(SETUP, || count(&counters.joined) >= all) {
        let why = format!(
            "{} of {all} clients joined: {}",
            count(&counters.joined),
            counters.first_error()
        );
        return Err(io::Error::other(why));
    }
    let (mut sender, drain) = join_sender(tcp, &counters)?;
    if !wait_until(SETUP, || count(&counters.settled) >= all) {
        let why = format!(
            "{} of {all} clients saw the sender join",
            count(&counters.settled)
        );
        return Err(io::Error::other(why));
    }

    let pid = server.pid.to_string();
    let cpu = || sys::cpu_seconds(&pid).unwrap_or(f64::NAN);
    let (quiet0, quiet_start) = (counters.traffic(), Instant::now());
    thread::sleep(plan.quiet);
    let ((bytes0, requests0), cpu0) = (counters.traffic(), cpu());
    let quiet_s = quiet_start.elapsed().as_secs_f64() * all as f64;
    let idle_bytes_per_s = (bytes0 - quiet0.0) as f64 / quiet_s;
    let idle_requests_per_s = (requests0 - quiet0.1) as f64 / quiet_s;
    let start = Instant::now();
    let mut sent = 0;
    for seq in 0..plan.messages {
        if let Some(wait) =
            (start + plan.interval * seq as u32).checked_duration_since(Instant::now())
        {
            thread::sleep(wait);
        }
        let ns = epoch.elapsed().as_nanos();
        if let Err(e) = sender.write_all(format!("#P{seq}:{ns}\n").as_bytes()) {
            counters.error(format!("sender: {e}"));
            break;
        }
        sent += 1;
    }
    let expected = (sent * all) as u64;
    // A short-polling client has the last line within one interval; the others at once.
    let grace = plan.interval * 2 + Duration::from_secs(1);
    wait_until(grace, || {
        counters.delivered.load(Ordering::Relaxed) >= expected
    });
    let ((bytes1, requests1), cpu1) = (counters.traffic(), cpu());
    let delivered = counters.delivered.load(Ordering::Relaxed);

    let mut trouble = counters.first_error();
    if server.exited() {
        trouble = format!("the server process died; {trouble}");
    }
    // The end, on this path as on every other: stop the clients, kill the server (which ends
    // every socket a client still waits on), then collect the threads.
    drop(stop);
    drop(server);
    for thread in clients {
        let _ = thread.join();
    }
    let _ = drain.join();
    let latency_ms = counters
        .latency_ms
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    Ok(Outcome {
        mode,
        sent,
        expected,
        delivered,
        bytes: bytes1 - bytes0,
        requests: requests1 - requests0,
        cpu_s: cpu1 - cpu0,
        latency_ms,
        missed: counters.missed.load(Ordering::Relaxed),
        idle_bytes_per_s,
        idle_requests_per_s,
        trouble,
    })
}

/// Scenario 10: every mode in turn, then its rows, target/bench/polling.csv and polling.svg.
pub fn run(plan: &Plan, rows: &mut Vec<Row>) -> io::Result<()> {
    let mut outcomes = Vec::new();
    for mode in Mode::ALL {
        eprintln!("  {} ...", mode.name());
        outcomes.push(measure(mode, plan)?);
    }
    add_rows(plan, &outcomes, rows);
    let dir = out_dir()?;
    fs::create_dir_all(&dir)?;
    fs::write(dir.join("polling.csv"), csv(plan, &outcomes))?;
    fs::write(dir.join("polling.svg"), svg(plan, &outcomes))?;
    println!("wrote {0}/polling.csv and {0}/polling.svg", dir.display());
    Ok(())
}

const BYTES_NOTE: &str = "application layer, both directions: HTTP heads, bodies, WebSocket \
                          frames (no TCP/IP headers); the clients send minimal heads";

fn add_rows(plan: &Plan, outcomes: &[Outcome], rows: &mut Vec<Row>) {
    let Some(ws) = outcomes.iter().find(|o| o.mode == Mode::WebSocket) else {
        return;
    };
    for o in outcomes {
        let name = format!("10 {}, {} clients", o.mode.name(), plan.clients);
        let vs_ws = |row: Row, base: f64| {
            if o.mode == Mode::WebSocket {
                row
            } else {
                row.baseline(base)
            }
        };
        let bytes = Row::new(
            &name,
            "bytes per delivered message",
            "B",
            o.bytes_per_message(),
        );
        rows.push(vs_ws(bytes, ws.bytes_per_message()).note(BYTES_NOTE));
        rows.push(Row::new(
            &name,
            "requests per delivered message",
            "",
            o.requests_per_message(),
        ));
        let p50 = Row::new(&name, "delivery latency p50", "ms", o.p50_ms());
        rows.push(vs_ws(p50, ws.p50_ms()));
        let p99 = Row::new(&name, "delivery latency p99", "ms", o.p99_ms());
        rows.push(vs_ws(p99, ws.p99_ms()).note("from the sender's write to the client's read"));
        let cpu = Row::new(
            &name,
            "server CPU per delivered message",
            "us",
            o.cpu_us_per_message(),
        );
        rows.push(vs_ws(cpu, ws.cpu_us_per_message()).note(format!(
            "utime+stime from /proc: {} s in the window",
            number(o.cpu_s)
        )));
        let idle = Row::new(
            &name,
            "bytes per client-second, room quiet",
            "B",
            o.idle_bytes_per_s,
        );
        rows.push(idle.note(format!(
            "{} requests per client-second; {} s with nothing said, before the first line \
             (heartbeats, every 30 s, fall outside it)",
            number(o.idle_requests_per_s),
            plan.quiet.as_secs()
        )));
        let mut note = format!("baseline: {} lines x {} clients", o.sent, plan.clients);
        if o.missed > 0 {
            let _ = write!(note, "; /history reported {} missed", o.missed);
        }
        if !o.trouble.is_empty() {
            let _ = write!(note, "; {}", o.trouble);
        }
        rows.push(
            Row::new(&name, "messages delivered", "", o.delivered as f64)
                .baseline(o.expected as f64)
                .goal(Goal::RatioAtLeast(1.0))
                .note(note),
        );
    }
}

fn csv(plan: &Plan, outcomes: &[Outcome]) -> String {
    let mut csv = String::from(
        "mode,clients,interval_ms,sent,expected,delivered,bytes_per_message,requests_per_message,\
         p50_ms,p99_ms,server_cpu_us_per_message,missed,quiet_bytes_per_client_s,\
         quiet_requests_per_client_s,trouble\n",
    );
    for o in outcomes {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{:.1},{:.3},{:.3},{:.3},{:.2},{},{:.1},{:.3},{}",
            o.mode.key(),
            plan.clients,
            plan.interval.as_millis(),
            o.sent,
            o.expected,
            o.delivered,
            o.bytes_per_message(),
            o.requests_per_message(),
            o.p50_ms(),
            o.p99_ms(),
            o.cpu_us_per_message(),
            o.missed,
            o.idle_bytes_per_s,
            o.idle_requests_per_s,
            csv_field(&o.trouble)
        );
    }
    csv
}

/// Grouped bars, one panel per measure, each on its own linear scale with the values written
/// over the bars (WebSocket's latency is a thousandth of short polling's: no shared axis).
fn svg(plan: &Plan, outcomes: &[Outcome]) -> String {
    type Measure = fn(&Outcome) -> f64;
    let measures: [(&str, Measure); 6] = [
        ("bytes / message", Outcome::bytes_per_message),
        ("requests / message", Outcome::requests_per_message),
        ("latency p50 (ms)", Outcome::p50_ms),
        ("latency p99 (ms)", Outcome::p99_ms),
        ("server CPU / message (µs)", Outcome::cpu_us_per_message),
        ("quiet: bytes / client-s", |o| o.idle_bytes_per_s),
    ];
    let (panel_w, h, top, bottom, gap) = (170.0, 360.0, 60.0, 50.0, 14.0);
    let w = panel_w * measures.len() as f64 + 20.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">One chat line a second to {} clients for {} s: asking again and again vs being told</text>\n",
        w / 2.0,
        plan.clients,
        plan.messages
    );
    let bar_w = (panel_w - 2.0 * gap) / outcomes.len().max(1) as f64 - 6.0;
    let (y0, y1) = (top, h - bottom);
    for (p, (label, value)) in measures.iter().enumerate() {
        let x0 = 10.0 + panel_w * p as f64 + gap;
        let max = outcomes
            .iter()
            .map(value)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.15;
        let _ = writeln!(
            s,
            "<line x1=\"{x0}\" y1=\"{y1}\" x2=\"{:.1}\" y2=\"{y1}\" stroke=\"black\"/>\
             <text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            x0 + panel_w - 2.0 * gap,
            x0 + panel_w / 2.0 - gap,
            y1 + 20.0
        );
        for (i, o) in outcomes.iter().enumerate() {
            let v = value(o);
            let v_drawn = if v.is_finite() { v } else { 0.0 };
            let bar_h = v_drawn / max * (y1 - y0);
            let x = x0 + i as f64 * (bar_w + 6.0);
            let _ = writeln!(
                s,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{bar_h:.1}\" fill=\"{}\"><title>{}: {} {label}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                y1 - bar_h,
                o.mode.color(),
                o.mode.name(),
                number(v),
                x + bar_w / 2.0,
                y1 - bar_h - 4.0,
                number(v)
            );
        }
    }
    for (i, mode) in Mode::ALL.iter().enumerate() {
        let x = 20.0 + 220.0 * i as f64;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"36\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"46\">{}</text>",
            mode.color(),
            x + 18.0,
            mode.name()
        );
    }
    s.push_str("</svg>\n");
    s
}
