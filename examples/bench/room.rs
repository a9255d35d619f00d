//! Scenarios 6 to 8: the chat server as users run it (`plainsock serve`, its own process),
//! and the members in the load generator (this same binary, `bench load-gen`, its own
//! process). This side spawns both, reads what they print, and kills both on every path.

use crate::sys::{self, ChildGuard};
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// What one room run measured: the load generator's `key=value` lines, plus this side's.
pub struct RoomRun {
    pub values: HashMap<String, String>,
}

impl RoomRun {
    pub fn get(&self, key: &str) -> f64 {
        self.values
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

pub struct RoomPlan {
    pub members: usize,
    pub messages: usize,
    pub interval_ms: u64,
    pub pollers: usize,
    pub deadline: Duration,
    /// Members that never read (scenario 8), joined after the others.
    pub stalled: usize,
    /// Bytes of each broadcast (0: just the sequence number and time stamp).
    pub payload: usize,
    /// Ask for each broadcast's count and slowest latency (`slot_count`, `slot_max_us`).
    pub per_message: bool,
    /// Announce every join and leave on its own (`--announce-up-to 100000`) instead of the
    /// one-a-second summary of a big room: scenario 8 counts evictions one by one, in both
    /// of its runs, so that they differ only in the stalled members.
    pub announce_each: bool,
}

/// target/release/plainsock, beside this example's own directory.
fn plainsock_binary() -> io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or_else(|| io::Error::other("cannot locate target/release"))?;
    let bin = release.join("plainsock");
    if bin.exists() {
        Ok(bin)
    } else {
        Err(io::Error::other(format!(
            "{} is missing: build it first (cargo build --release)",
            bin.display()
        )))
    }
}

/// Lines a child prints on stdout, delivered over a channel (so reading can time out).
fn lines_of(stdout: impl io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The lines a child prints on stdout (it was spawned with `Stdio::piped()`).
pub fn stdout_lines(child: &mut ChildGuard) -> io::Result<mpsc::Receiver<String>> {
    let stdout = child
        .child()
        .and_then(|c| c.stdout.take())
        .ok_or_else(|| io::Error::other("no stdout"))?;
    Ok(lines_of(stdout))
}

/// Spawns `command` (stdout piped) and waits up to 10 s for the line in which `ready` finds
/// what it looks for (an address, "ready"): a real event, never a sleep. Its stdout is drained
/// from then on, so it can never block on a full pipe.
pub fn spawn_until<T>(
    command: &mut Command,
    what: &str,
    mut ready: impl FnMut(&str) -> Option<T>,
) -> io::Result<(ChildGuard, T)> {
    let spawned = command.stdout(Stdio::piped()).spawn();
    let mut child =
        ChildGuard::new(spawned.map_err(|e| io::Error::other(format!("cannot run {what}: {e}")))?);
    let lines = stdout_lines(&mut child)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .map_err(|_| io::Error::other(format!("{what} was not ready within 10 s")))?;
        if let Some(found) = ready(&line) {
            thread::spawn(move || for _ in lines {});
            return Ok((child, found));
        }
    }
}

/// The addresses `plainsock serve` printed.
pub struct Ports {
    pub tcp: Option<SocketAddr>,
    pub ws: SocketAddr,
}

/// Starts `plainsock serve` on free ports (with `extra` flags, e.g. `--cluster URL`) and
/// returns it with its addresses.
pub fn start_server(
    members: usize,
    announce_up_to: usize,
    extra: &[&str],
) -> io::Result<(ChildGuard, Ports)> {
    let mut tcp = None;
    spawn_until(
        Command::new(plainsock_binary()?)
            .args(["serve", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(["--ws", "127.0.0.1:0", "--quiet"])
            // The sender is a member too; leave room above the measured members.
            .args(["--max-conns", &(members + 100).to_string()])
            .args(["--announce-up-to", &announce_up_to.to_string()])
            // Every simulated member comes from 127.0.0.1: no per-address cap.
            .args(["--max-per-ip", "0"])
            .args(extra)
            .stdin(Stdio::null()),
        "plainsock serve (its ws address)",
        |line| {
            let address = |prefix| -> Option<SocketAddr> {
                line.trim_start()
                    .strip_prefix(prefix)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            };
            // `  tcp  127.0.0.1:PORT  join with: nc ...`, printed before the ws line ...
            if let Some(addr) = address("tcp ") {
                tcp = Some(addr);
            }
            // ... `  ws   127.0.0.1:PORT  open http://...`
            address("ws ").map(|ws| Ports { tcp, ws })
        },
    )
}

/// Each process holds one descriptor per member (plus a few): checked before starting.
pub fn check_open_files(members: usize) -> io::Result<()> {
    let need = members as u64 + 200;
    match sys::open_files_limit() {
        Some(limit) if limit < need => Err(io::Error::other(format!(
            "{members} members need about {need} open files per process, but the limit is \
             {limit}: run `ulimit -n {}` first (make bench does)",
            need.max(20_000)
        ))),
        _ => Ok(()),
    }
}

/// Runs one room: a fresh server, `plan.members` members, `plan.messages` broadcasts.
pub fn run_room(plan: &RoomPlan) -> io::Result<RoomRun> {
    check_open_files(plan.members)?;
    let announce_up_to = if plan.announce_each { 100_000 } else { 100 };
    let (mut server, Ports { ws, .. }) =
        start_server(plan.members + plan.stalled, announce_up_to, &[])?;
    let overflows_before = sys::listen_overflows();
    let exe = std::env::current_exe()?;
    let mut loadgen = ChildGuard::new(
        Command::new(exe)
            .arg("load-gen")
            .args(["--ws", &ws.to_string()])
            .args(["--members", &plan.members.to_string()])
            .args(["--messages", &plan.messages.to_string()])
            .args(["--interval-ms", &plan.interval_ms.to_string()])
            .args(["--pollers", &plan.pollers.to_string()])
            .args(["--server-pid", &server.pid.to_string()])
            .args(["--deadline-secs", &plan.deadline.as_secs().to_string()])
            .args(["--stalled", &plan.stalled.to_string()])
            .args(["--payload", &plan.payload.to_string()])
            .args(["--per-message", if plan.per_message { "1" } else { "0" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let lines = stdout_lines(&mut loadgen)?;
    let mut values = HashMap::new();
    // The load generator ends itself at its deadline; allow it some time to report.
    let hard_stop = Instant::now() + plan.deadline + Duration::from_secs(15);
    loop {
        let left = hard_stop.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.max(Duration::from_millis(1))) {
            Ok(line) => {
                if let Some((k, v)) = line.split_once('=') {
                    values.insert(k.to_string(), v.to_string());
                }
                if line.starts_with("done=") || line.starts_with("error=") {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                values.insert(
                    "error".into(),
                    "the load generator did not finish in time".into(),
                );
                break;
            }
        }
    }
    if server.exited() {
        values.insert("server_died".into(), "1".into());
    }
    drop(loadgen);
    if let (Some(before), Some(after)) = (overflows_before, sys::listen_overflows()) {
        values.insert("listen_overflows".into(), (after - before).to_string());
    }
    values.insert(
        "server_cpu_total_s".into(),
        sys::cpu_seconds(&server.pid.to_string())
            .unwrap_or(f64::NAN)
            .to_string(),
    );
    drop(server);
    Ok(RoomRun { values })
}
