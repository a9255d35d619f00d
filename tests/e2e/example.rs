//! Examples as real processes (`target/<profile>/examples/NAME 127.0.0.1:0`), and other
//! programs run to completion within a time limit.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// An example binary, running on a free port; killed when dropped.
pub struct Example {
    child: Child,
    pub addr: SocketAddr,
}

impl Example {
    /// Starts `target/<profile>/examples/NAME 127.0.0.1:0` and reads the address it announces.
    pub fn start(name: &str) -> Example {
        let exe = example_path(name);
        assert!(
            exe.exists(),
            "{} is missing: run `cargo build --release --examples` (make e2e does)",
            exe.display()
        );
        let mut child = Command::new(&exe)
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut example = Example {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        // The announcement comes on stdout; a thread reads it so the wait can be bounded, and
        // then drains the rest.
        let (found, announced) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = address_in(&line) {
                    let _ = found.send(addr);
                }
            }
        });
        example.addr = announced
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name} announces its address on stdout"));
        example
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `127.0.0.1:PORT` (with a real port) in a line such as
/// `listening on ws://127.0.0.1:40123/`.
fn address_in(line: &str) -> Option<SocketAddr> {
    line.split(|c: char| c.is_whitespace() || c == '/')
        .filter_map(|word| word.parse::<SocketAddr>().ok())
        .find(|addr| addr.port() != 0)
}

/// Examples sit next to the test binaries' folder: target/<profile>/examples/NAME, while a
/// test runs as target/<profile>/deps/NAME-HASH.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary sits in target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// Runs `command` to its end, killing it after `limit`; returns its status, stdout, stderr.
pub fn run_within(mut command: Command, limit: Duration) -> (ExitStatus, String, String) {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    // Drain both pipes on their own threads, so a chatty child never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let (out, err) = (
                    out.join().unwrap_or_default(),
                    err.join().unwrap_or_default(),
                );
                panic!("{what} did not finish within {limit:?}:\n{out}{err}");
            }
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    (status, out, err)
}

/// `tests/node`, where `npm ci` installed the real Node clients (`socket.io-client`, `ws`).
pub fn node_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    for package in ["socket.io-client", "ws"] {
        assert!(
            dir.join("node_modules").join(package).exists(),
            "{package} is not installed: run `npm ci` in tests/node (.ci/run does)"
        );
    }
    dir
}
