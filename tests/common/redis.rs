//! A real Debian `redis-server` for one test: its own temp dir and unix socket, no TCP port,
//! persistence off; killed (and its dir removed) on drop.
//!
//! Readiness is a real event: the server's own log line "ready to accept connections", then a
//! PING answered on the socket. A missing `redis-server` fails the test with a clear message
//! (`.ci/run` installs it before `make test`), it never passes silently.

use plainsock::resp::{Connection, RedisUrl, Reply};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use super::PATIENCE;

pub struct RedisServer {
    child: Option<Child>,
    dir: PathBuf,
    socket: PathBuf,
}

static STARTED: AtomicU64 = AtomicU64::new(0);

impl RedisServer {
    /// Starts a fresh server in a new temp dir.
    pub fn start() -> RedisServer {
        let dir = std::env::temp_dir().join(format!(
            "plainsock-redis-{}-{}-{:x}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed),
            plainsock::rand::random_u64()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir for redis-server");
        let socket = dir.join("redis.sock");
        let mut server = RedisServer {
            child: None,
            dir,
            socket,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let spawned = Command::new("redis-server")
            .arg("--port")
            .arg("0")
            .arg("--unixsocket")
            .arg(&self.socket)
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--logfile", "", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot run redis-server ({e}): these tests need Debian's redis-server, \
                 install it with: apt-get install -y redis-server (.ci/run does)"
            ),
        };
        // The log goes to stdout; drained by a thread until the server exits, so it never
        // blocks on a full pipe. The first "ready" line is our signal.
        let (ready_tx, ready_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let is_ready = line
                    .to_ascii_lowercase()
                    .contains("ready to accept connections");
                if is_ready && let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
        });
        self.child = Some(child);
        if ready_rx.recv_timeout(PATIENCE).is_err() {
            panic!("redis-server did not get ready within {PATIENCE:?}");
        }
        let pong = self.connect().command(&["PING"]).expect("PING");
        assert_eq!(pong, Reply::Simple("PONG".into()));
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `redis+unix:///tmp/.../redis.sock`
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket.display())
    }

    pub fn connect(&self) -> Connection {
        let url = RedisUrl::parse(&self.url()).expect("url");
        Connection::open(&url, PATIENCE).expect("connect to the test's redis-server")
    }

    /// `kill -9`: no shutdown, no goodbye to clients (and, with persistence off, no data kept).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// A new server on the same socket path (after [`kill9`](Self::kill9)).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// `CLIENT KILL` of every connection whose `CLIENT SETNAME` contains `name`; how many.
    pub fn kill_clients_named(&self, name: &str) -> usize {
        let mut admin = self.connect();
        let list = admin.command(&["CLIENT", "LIST"]).expect("CLIENT LIST");
        let list = list.as_str().unwrap_or_default().to_string();
        let mut killed = 0;
        for line in list.lines() {
            let field = |key: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
                    .unwrap_or_default()
                    .to_string()
            };
            if field("name").contains(name) {
                let id = field("id");
                if let Ok(Reply::Integer(n)) = admin.command(&["CLIENT", "KILL", "ID", &id]) {
                    killed += n as usize;
                }
            }
        }
        killed
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
