//! What the bench reads from Linux's /proc, and the guard that never leaves a child running.

use std::fs;
use std::process::Child;

/// Clock ticks per second for /proc/PID/stat times. std cannot ask sysconf(_SC_CLK_TCK);
/// it is 100 on every mainstream Linux build.
pub const CLK_TCK: f64 = 100.0;

/// Kills and reaps a child process when dropped: on success, on error, and while a panic
/// unwinds, so no `plainsock serve` or load generator outlives the bench.
pub struct ChildGuard {
    child: Option<Child>,
    pub pid: u32,
}

impl ChildGuard {
    pub fn new(child: Child) -> ChildGuard {
        ChildGuard {
            pid: child.id(),
            child: Some(child),
        }
    }

    pub fn child(&mut self) -> Option<&mut Child> {
        self.child.as_mut()
    }

    /// Has the child exited on its own? (Reaps it if so.)
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) | None => true,
            Some(_) => false,
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A `Key:   value kB` line of /proc/PID/status, as its number.
pub fn status_field(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Resident memory in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS").map(|kb| kb * 1024)
}

pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads")
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) are utime and stime; `after` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / CLK_TCK)
}

/// CPU seconds the whole machine has been busy (every CPU: user, nice, system, irq, softirq),
/// from the `cpu` line of /proc/stat: what the processes measured leave is other work.
pub fn machine_busy_seconds() -> Option<f64> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = text
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    Some(busy as f64 / CLK_TCK)
}

/// `TcpExt: ListenOverflows` from /proc/net/netstat: SYNs dropped because an accept queue
/// was full (what `nstat` shows as TcpExtListenOverflows). Machine-wide.
pub fn listen_overflows() -> Option<u64> {
    let text = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = text.lines();
    while let Some(names) = lines.next() {
        let values = lines.next()?;
        if let (Some(names), Some(values)) = (
            names.strip_prefix("TcpExt:"),
            values.strip_prefix("TcpExt:"),
        ) {
            let at = names
                .split_whitespace()
                .position(|n| n == "ListenOverflows")?;
            return values.split_whitespace().nth(at)?.parse().ok();
        }
    }
    None
}

/// Threads on the whole machine now (the 4th field of /proc/loadavg, `running/total`), and
/// the most there may be: every thread takes a pid, so `kernel.pid_max` bounds them.
pub fn threads_and_pid_max() -> Option<(u64, u64)> {
    let load = fs::read_to_string("/proc/loadavg").ok()?;
    let total = load
        .split_whitespace()
        .nth(3)?
        .split_once('/')?
        .1
        .parse()
        .ok()?;
    let max = fs::read_to_string("/proc/sys/kernel/pid_max").ok()?;
    Some((total, max.trim().parse().ok()?))
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> Option<u64> {
    let text = fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `model name` of the first CPU, and how many CPUs this process may use.
pub fn machine() -> (String, usize) {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (model, cpus)
}
