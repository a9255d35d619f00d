//! Scenario 9: one room across three `plainsock serve --cluster` processes and a real Debian
//! `redis-server`, its members held by load generators that each join all three servers.
//!
//! ```text
//!  load-gen 0 (sender + members) ─┬→ serve A ─┐
//!                                 ├→ serve B ─┼── redis-server (unix socket, no persistence)
//!  load-gen 1 (members)          ─┴→ serve C ─┘
//! ```
//!
//! Measured: how long one broadcast takes to reach the LAST of all members; sustained rates
//! (lines lost, latency); the servers' memory per member; Redis's CPU at those rates; and the
//! price of the link: one member's echo on one process, without and with `--cluster`. The load
//! generators stamp lines with the wall clock, so one process times what another sent.

use crate::room;
use crate::stats::ms;
use crate::sys::{self, ChildGuard};
use plainsock::ws::{self, Message};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

pub struct ClusterPlan {
    pub servers: usize,
    pub per_server: usize,
    pub loadgens: usize,
    /// Broadcasts one at a time, this far apart: the time to reach everyone.
    pub single: (usize, Duration),
    /// Sustained rates, one after the other: lines per second, for how many seconds.
    pub rates: Vec<(usize, usize)>,
    /// Echo round trips per run, and runs per side (alternating, so drift hits both).
    pub echo_rounds: usize,
    pub echo_runs: usize,
    /// For joining everyone (the load generators' own deadline is this plus the sending).
    pub join_deadline: Duration,
}

/// What scenario 9 measured.
#[derive(Default)]
pub struct ClusterRun {
    pub joined: u64,
    pub connect_failed: u64,
    pub handshake_failed: u64,
    pub join_s: f64,
    /// The broadcasts one at a time, then each sustained rate.
    pub phases: Vec<Phase>,
    /// Members the servers closed (evicted) during the run.
    pub closed: u64,
    /// The servers' RSS, summed: before anyone joined, and with everyone in (idle).
    pub rss_empty_bytes: u64,
    pub rss_bytes: u64,
    /// The servers' threads, summed, with everyone in.
    pub threads: u64,
    pub redis_rss_bytes: u64,
    /// One member's echo round trips (ms) on a process without `--cluster`, and with it.
    pub echo_plain_ms: Vec<f64>,
    pub echo_cluster_ms: Vec<f64>,
    /// What went wrong on the way, in words (first errors, a server that died).
    pub trouble: Vec<String>,
}

/// One series of broadcasts.
#[derive(Default)]
pub struct Phase {
    pub sent: usize,
    /// Per line that reached everyone: ms until the last member had it.
    pub last_ms: Vec<f64>,
    /// (member, line) pairs that had not arrived when nothing had arrived for 10 s.
    pub lost: u64,
    /// How long sending took (longer than asked when the room pushed back on the sender).
    pub seconds: f64,
    /// While its lines were sent, in % of one core: Redis, the servers, the load generators,
    /// the whole machine.
    pub cpu_pct: [f64; 4],
}

/// A `redis-server` of the bench's own: a temp dir, a unix socket, persistence off. Killed,
/// and its dir removed, on drop.
struct Redis {
    child: Option<ChildGuard>,
    dir: PathBuf,
    socket: PathBuf,
}

impl Redis {
    fn start() -> io::Result<Redis> {
        let dir =
            std::env::temp_dir().join(format!("plainsock-bench-redis-{}", std::process::id()));
        fs::create_dir_all(&dir)?;
        let socket = dir.join("redis.sock");
        let mut redis = Redis {
            child: None,
            dir,
            socket,
        };
        // Persistence off: a bench room leaves nothing behind.
        let conf = redis.dir.join("redis.conf");
        fs::write(
            &conf,
            format!(
                "port 0\nunixsocket {}\nunixsocketperm 700\nsave \"\"\nappendonly no\n\
                 daemonize no\nlogfile \"\"\ndir {}\n",
                redis.socket.display(),
                redis.dir.display()
            ),
        )?;
        // Its log goes to stdout: the line "Ready to accept connections" is the signal.
        let (child, ()) = room::spawn_until(
            Command::new("redis-server")
                .arg(&conf)
                .stdin(Stdio::null())
                .stderr(Stdio::null()),
            "redis-server (apt-get install -y redis-server)",
            |line| {
                line.to_ascii_lowercase()
                    .contains("ready to accept connections")
                    .then_some(())
            },
        )?;
        redis.child = Some(child);
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.pid)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        drop(self.child.take());
        let _ = fs::remove_dir_all(&self.dir);
    }
}

pub fn run_cluster(plan: &ClusterPlan) -> io::Result<ClusterRun> {
    let members = plan.servers * plan.per_server;
    let per_loadgen = members.div_ceil(plan.loadgens.max(1));
    room::check_open_files(per_loadgen.max(plan.per_server))?;
    // A thread per member on the servers, and a pid per thread: check that they fit, leaving
    // room for everything else on the machine.
    if let Some((now, max)) = sys::threads_and_pid_max()
        && now + members as u64 + 2_000 > max
    {
        return Err(io::Error::other(format!(
            "{members} server threads do not fit: {now} threads run already and \
             kernel.pid_max is {max}"
        )));
    }
    let redis = Redis::start()?;
    let mut run = ClusterRun::default();
    (run.echo_plain_ms, run.echo_cluster_ms) = echo_price(&redis, plan)?;

    let url = redis.url();
    let mut servers = Vec::new();
    for _ in 0..plan.servers {
        servers.push(room::start_server(
            plan.per_server,
            100,
            &["--cluster", &url],
        )?);
    }
    let addrs: Vec<String> = servers.iter().map(|(_, a)| a.ws.to_string()).collect();
    let pids: Vec<u32> = servers.iter().map(|(s, _)| s.pid).collect();
    let rss = || pids.iter().filter_map(|&p| sys::rss_bytes(p)).sum();
    run.rss_empty_bytes = rss();
    // `--phases COUNTxMS,...` for the load generators.
    let mut series = vec![(plan.single.0, plan.single.1)];
    for &(rate, seconds) in &plan.rates {
        series.push((
            rate * seconds,
            Duration::from_millis(1000 / rate.max(1) as u64),
        ));
    }
    let phases: Vec<String> = series
        .iter()
        .map(|(n, gap)| format!("{n}x{}", gap.as_millis()))
        .collect();
    let sending: Duration = series.iter().map(|&(n, gap)| gap * n as u32).sum();
    // A room over its CPU drains its backlog after the last line: allow for it.
    let drain = Duration::from_secs(90);
    let deadline = plan.join_deadline + sending + drain;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut loadgens = Vec::new();
    let (tx, rx) = mpsc::channel();
    for k in 0..plan.loadgens {
        let count = per_loadgen.min(members - k * per_loadgen);
        let mut loadgen = ChildGuard::new(
            Command::new(&exe)
                .arg("load-gen")
                .args(["--ws", &addrs.join(",")])
                .args(["--members", &count.to_string()])
                .args(["--phases", &phases.join(",")])
                // 6,000 sockets a poller: swept idle, they would take half of it.
                .args(["--pollers", "2", "--idle-rest", "3"])
                .args(["--server-pid", &pids[0].to_string()])
                .args(["--deadline-secs", &deadline.as_secs().to_string()])
                .args(["--sender", if k == 0 { "1" } else { "0" }])
                .args(["--coordinated", "1", "--settle", "welcome"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?,
        );
        let (lines, tx) = (room::stdout_lines(&mut loadgen)?, tx.clone());
        thread::spawn(move || {
            for line in lines {
                if tx.send((k, line)).is_err() {
                    return;
                }
            }
            // Its stdout closed: it exited (after `done=1`, or early).
            let _ = tx.send((k, "exited=1".into()));
        });
        loadgens.push(loadgen);
    }
    drop(tx);
    let cpu = |pid: u32| sys::cpu_seconds(&pid.to_string()).unwrap_or(f64::NAN);
    let (redis_pid, server_pids) = (redis.pid(), pids.clone());
    let loadgen_pids: Vec<u32> = loadgens.iter().map(|l| l.pid).collect();
    let mut events = Events {
        rx,
        values: vec![HashMap::new(); plan.loadgens],
        marks: HashMap::new(),
        sample: Box::new(move || {
            let sum = |pids: &[u32]| pids.iter().map(|&p| cpu(p)).sum();
            [
                cpu(redis_pid),
                sum(&server_pids),
                sum(&loadgen_pids),
                sys::machine_busy_seconds().unwrap_or(f64::NAN),
            ]
        }),
    };

    // Everyone joins; then the servers' memory and threads, idle.
    events.until(
        all("ready"),
        "every member joined",
        started + plan.join_deadline,
    )?;
    run.join_s = started.elapsed().as_secs_f64();
    let sum = |key: &str| events.sum(key);
    run.joined = sum("opened");
    run.connect_failed = sum("connect_failed");
    run.handshake_failed = sum("handshake_failed");
    run.rss_bytes = rss();
    run.threads = pids.iter().filter_map(|&p| sys::threads(p)).sum();
    run.redis_rss_bytes = sys::rss_bytes(redis.pid()).unwrap_or(0);
    eprintln!(
        "cluster: {} members in {:.1} s; {} server threads, {} MiB",
        run.joined,
        run.join_s,
        run.threads,
        run.rss_bytes >> 20
    );

    // The sender's load generator sends; everyone is told how many went out, then reports.
    tell(&mut loadgens, "go")?;
    let sent_by = |v: &[HashMap<String, String>]| v[0].contains_key("sending_done");
    events.until(
        sent_by,
        "the sender finished",
        // A room over its CPU pushes back on the sender (its socket fills): allow for it.
        Instant::now() + sending + drain,
    )?;
    let sent = events.values[0]["sending_done"]
        .parse::<usize>()
        .unwrap_or(0);
    tell(&mut loadgens, &format!("end {sent}"))?;
    events.until(
        all("done"),
        "every load generator reported",
        Instant::now() + drain + Duration::from_secs(10),
    )?;

    let alive = events.sum("alive");
    run.closed = events.sum("closed");
    let lists = |key: &str| -> Vec<Vec<u64>> {
        events
            .values
            .iter()
            .map(|m| {
                m.get(key)
                    .map(|l| l.split(',').filter_map(|n| n.parse().ok()).collect())
                    .unwrap_or_default()
            })
            .collect()
    };
    let (counts, slowest) = (lists("slot_count"), lists("slot_max_us"));
    let mut first = 0;
    for (k, &(count, _)) in series.iter().enumerate() {
        let mut phase = Phase::default();
        for seq in first..(first + count).min(sent) {
            let got: u64 = counts.iter().filter_map(|c| c.get(seq)).sum();
            let lost = alive.saturating_sub(got);
            phase.lost += lost;
            phase.sent += 1;
            let last_us = slowest.iter().filter_map(|s| s.get(seq)).max();
            if lost == 0
                && let Some(&us) = last_us
            {
                phase.last_ms.push(us as f64 / 1e3);
            }
        }
        first += count;
        // From this series' first line to the next one's (or the last line sent).
        let end = if k + 1 < series.len() {
            format!("phase={}", k + 1)
        } else {
            "sending_done".into()
        };
        if let (Some(a), Some(b)) = (
            events.marks.get(&format!("phase={k}")),
            events.marks.get(&end),
        ) {
            let wall = b.0.duration_since(a.0).as_secs_f64().max(1e-9);
            phase.seconds = wall;
            phase.cpu_pct = [0, 1, 2, 3].map(|i| (b.1[i] - a.1[i]) / wall * 100.0);
        }
        run.phases.push(phase);
    }
    for m in &events.values {
        if let Some(e) = m.get("first_error") {
            run.trouble.push(e.clone());
        }
    }
    let refused = events.sum("not_delivered");
    if refused > 0 {
        run.trouble.push(format!(
            "{refused} lines refused by the sender's server (\"not delivered\")"
        ));
    }
    for (k, (server, _)) in servers.iter_mut().enumerate() {
        if server.exited() {
            run.trouble.push(format!("server {k} died"));
        }
    }
    drop(loadgens);
    drop(servers);
    drop(redis);
    Ok(run)
}

/// The load generators' `key=value` lines as they come, and when some of them came.
struct Events {
    rx: Receiver<(usize, String)>,
    values: Vec<HashMap<String, String>>,
    /// `phase=K`, `sending_done`: when, and CPU seconds so far of Redis, the servers, the
    /// load generators, the machine.
    marks: HashMap<String, (Instant, [f64; 4])>,
    sample: Box<dyn Fn() -> [f64; 4]>,
}

impl Events {
    fn until(
        &mut self,
        done: impl Fn(&[HashMap<String, String>]) -> bool,
        what: &str,
        deadline: Instant,
    ) -> io::Result<()> {
        while !done(&self.values) {
            let left = deadline.saturating_duration_since(Instant::now());
            let (k, line) = self.rx.recv_timeout(left).map_err(|_| {
                io::Error::other(format!("not in time: {what} (or a load generator died)"))
            })?;
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if key == "error" {
                return Err(io::Error::other(format!("load generator {k}: {value}")));
            }
            if key == "exited" && !self.values[k].contains_key("done") {
                return Err(io::Error::other(format!(
                    "load generator {k} exited early: {what}"
                )));
            }
            let mark = match key {
                "phase" => Some(line.clone()),
                "sending_done" => Some(key.to_string()),
                _ => None,
            };
            if let Some(mark) = mark {
                self.marks.insert(mark, (Instant::now(), (self.sample)()));
            }
            self.values[k].insert(key.to_string(), value.to_string());
        }
        Ok(())
    }

    fn sum(&self, key: &str) -> u64 {
        self.values
            .iter()
            .filter_map(|m| m.get(key)?.parse::<u64>().ok())
            .sum()
    }
}

/// Has every load generator said `key`?
fn all(key: &'static str) -> impl Fn(&[HashMap<String, String>]) -> bool {
    move |values| values.iter().all(|m| m.contains_key(key))
}

/// One line to every load generator's stdin.
fn tell(loadgens: &mut [ChildGuard], order: &str) -> io::Result<()> {
    for loadgen in loadgens {
        let stdin = loadgen
            .child()
            .and_then(|c| c.stdin.as_mut())
            .ok_or_else(|| io::Error::other("load generator without stdin"))?;
        writeln!(stdin, "{order}")?;
    }
    Ok(())
}

/// One member alone on one process, its echo timed: without `--cluster`, then with it (the
/// line goes to Redis and comes back before it is delivered), alternating.
fn echo_price(redis: &Redis, plan: &ClusterPlan) -> io::Result<(Vec<f64>, Vec<f64>)> {
    let url = redis.url();
    let (mut plain, mut clustered) = (Vec::new(), Vec::new());
    for _ in 0..plan.echo_runs.max(1) {
        for (extra, times) in [
            (&[][..], &mut plain),
            (
                &["--cluster", url.as_str(), "--room", "echo"][..],
                &mut clustered,
            ),
        ] {
            let (server, room::Ports { ws, .. }) = room::start_server(10, 100, extra)?;
            times.extend(echo_latency(&format!("ws://{ws}/ws"), plan.echo_rounds)?);
            drop(server);
        }
    }
    Ok((plain, clustered))
}

/// `rounds` lines sent one at a time, each timed until it comes back (after a few unmeasured).
fn echo_latency(url: &str, rounds: usize) -> io::Result<Vec<f64>> {
    let socket = ws::client::connect(url).map_err(|e| io::Error::other(e.to_string()))?;
    socket.get_ref().set_nodelay(true)?;
    socket
        .get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut socket = socket;
    let warmup = 20;
    let mut times = Vec::with_capacity(rounds);
    for i in 0..warmup + rounds {
        let tag = format!(": #E{i}");
        let t = Instant::now();
        socket
            .send(Message::Text(tag[2..].to_string()))
            .map_err(|e| io::Error::other(e.to_string()))?;
        loop {
            match socket.read() {
                Ok(Message::Text(line)) if line.ends_with(&tag) => break,
                Ok(_) if t.elapsed() < Duration::from_secs(5) => {}
                Ok(_) => return Err(io::Error::other("echo: own line not back within 5 s")),
                Err(e) => return Err(io::Error::other(format!("echo: {e}"))),
            }
        }
        if i >= warmup {
            times.push(ms(t.elapsed()));
        }
    }
    let _ = socket.close(1000, "bench done");
    Ok(times)
}
