//! On the internet, rehearsed on 127.0.0.1: Debian's nginx runs `examples/deploy/nginx.conf`
//! (only its ports and certificate paths changed) with a certificate made at test time, and
//! terminates TLS in front of `plainsock serve --trust-proxy 127.0.0.1`. Python's `websockets`
//! and headless Chromium join over `wss://`, and Chromium once more over long polling; a TCP
//! member sees them all; plainsock logs, and `/who` shows, each client's own address and port
//! (from nginx's `Forwarded`), not nginx's.
//!
//! `make e2e` runs this; `make test` skips it (it needs nginx, openssl, python3-websockets and
//! Chromium).

mod common;
mod e2e;

use common::{PATIENCE, TcpChat, nick_from_welcome, pipe_lines};
use e2e::chat_page::{open_chat_at, say, set_nick, wait_for_line};
use e2e::chromium::Chromium;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

const NGINX: &str = "/usr/sbin/nginx";
/// Ports taken by someone else between our pick and nginx's bind: try again this often.
const BIND_ATTEMPTS: usize = 5;

/// A folder under `target/tmp` for one test's certificate and nginx files; removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the temp folder");
        TempDir(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed on every path.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A self-signed certificate for localhost and 127.0.0.1: `cert.pem` (also the CA a client
/// trusts) and `key.pem`.
fn make_certificate(dir: &TempDir) {
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args([
            "-keyout",
            &dir.path("key.pem"),
            "-out",
            &dir.path("cert.pem"),
        ])
        .output()
        .expect("run openssl (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `plainsock serve --trust-proxy 127.0.0.1` on free ports, with its join log.
struct Plainsock {
    _child: Running,
    tcp: SocketAddr,
    ws: SocketAddr,
    log: Receiver<String>,
}

impl Plainsock {
    fn start() -> Plainsock {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plainsock"))
            .args(["serve", "--tcp", "127.0.0.1:0", "--udp", "off"])
            .args(["--ws", "127.0.0.1:0", "--trust-proxy", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start plainsock serve");
        let out = pipe_lines(child.stdout.take().expect("piped stdout"));
        let log = pipe_lines(child.stderr.take().expect("piped stderr"));
        let child = Running(child);
        let (mut tcp, mut ws) = (None, None);
        while tcp.is_none() || ws.is_none() {
            let line = out
                .recv_timeout(PATIENCE)
                .expect("plainsock serve prints its listeners");
            // "  tcp  127.0.0.1:PORT  join with: …"
            let mut words = line.split_whitespace();
            let (kind, addr) = (words.next(), words.next().and_then(|a| a.parse().ok()));
            match kind {
                Some("tcp") => tcp = addr,
                Some("ws") => ws = addr,
                _ => {}
            }
        }
        Plainsock {
            _child: child,
            tcp: tcp.unwrap_or_else(|| unreachable!()),
            ws: ws.unwrap_or_else(|| unreachable!()),
            log,
        }
    }

    /// The join line logged for `nick`.
    fn joined(&self, nick: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("plainsock logged no join of {nick}"));
            if line.ends_with(&format!(" joined over websocket as {nick}")) {
                return line;
            }
        }
    }
}

/// Debian's nginx running the deploy example, in the foreground, as one process (so killing
/// it leaves no worker behind).
struct Nginx {
    _child: Running,
    https: u16,
    http: u16,
    /// Everything nginx wrote on stderr, for failure messages.
    log: Receiver<String>,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The deploy example with this test's ports and files: every change must hit exactly once,
/// so an edit of the example that this test does not follow fails here, saying which.
fn site_config(dir: &TempDir, https: u16, http: u16, upstream: SocketAddr) -> String {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deploy/nginx.conf");
    let mut site = std::fs::read_to_string(&template).expect("read examples/deploy/nginx.conf");
    let changes = [
        ("listen 443 ssl;", format!("listen 127.0.0.1:{https} ssl;")),
        ("listen [::]:443 ssl;", String::new()),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("listen [::]:80;", String::new()),
        (
            "/etc/letsencrypt/live/chat.example/fullchain.pem",
            dir.path("cert.pem"),
        ),
        (
            "/etc/letsencrypt/live/chat.example/privkey.pem",
            dir.path("key.pem"),
        ),
        ("server 127.0.0.1:8080;", format!("server {upstream};")),
    ];
    for (from, to) in changes {
        assert_eq!(
            site.matches(from).count(),
            1,
            "examples/deploy/nginx.conf should say {from:?} once"
        );
        site = site.replace(from, &to);
    }
    site
}

impl Nginx {
    fn start(dir: &TempDir, upstream: SocketAddr) -> Nginx {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: apt-get install -y nginx"
        );
        let mut last = String::new();
        for _ in 0..BIND_ATTEMPTS {
            let (https, http) = (free_port(), free_port());
            std::fs::write(
                dir.path("site.conf"),
                site_config(dir, https, http, upstream),
            )
            .expect("write site.conf");
            // The http block Debian's /etc/nginx/nginx.conf would have, with every path
            // inside the temp folder.
            let d = |name| dir.path(name);
            let main = format!(
                "events {{ worker_connections 256; }}\n\
                 http {{\n    access_log off;\n    client_body_temp_path {};\n    \
                 proxy_temp_path {};\n    fastcgi_temp_path {};\n    uwsgi_temp_path {};\n    \
                 scgi_temp_path {};\n    include {};\n}}\n",
                d("body"),
                d("proxy"),
                d("fastcgi"),
                d("uwsgi"),
                d("scgi"),
                d("site.conf")
            );
            std::fs::write(d("nginx.conf"), main).expect("write nginx.conf");
            let globals = format!(
                "daemon off; master_process off; pid {}; error_log stderr notice;",
                d("nginx.pid")
            );
            let mut child = Command::new(NGINX)
                .args(["-e", "stderr", "-p", &dir.path(""), "-c", &d("nginx.conf")])
                .args(["-g", &globals])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start nginx");
            let log = pipe_lines(child.stderr.take().expect("piped stderr"));
            let nginx = Nginx {
                _child: Running(child),
                https,
                http,
                log,
            };
            // nginx reports its limits once its listening sockets are open (main() runs
            // ngx_init_cycle, which binds, before ngx_os_status); a failure is an [emerg].
            let deadline = Instant::now() + PATIENCE;
            last.clear();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match nginx.log.recv_timeout(left) {
                    Ok(line) if line.contains("getrlimit(RLIMIT_NOFILE)") => return nginx,
                    Ok(line) => {
                        last.push_str(&line);
                        last.push('\n');
                        if line.contains("[emerg]") {
                            break;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => panic!("nginx did not start:\n{last}"),
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            if !last.contains("Address already in use") {
                panic!("nginx failed:\n{last}");
            }
        }
        panic!("nginx found no free port in {BIND_ATTEMPTS} attempts:\n{last}");
    }

    /// What nginx has logged since it started (warnings, errors).
    fn log_so_far(&self) -> String {
        self.log.try_iter().collect::<Vec<_>>().join("\n")
    }
}

/// A TCP member of the room behind the proxy, welcomed.
fn tcp_member(addr: SocketAddr) -> TcpChat {
    let mut tcp = TcpChat::connect(addr);
    tcp.nick = nick_from_welcome(&tcp.line());
    tcp
}

/// Runs `tests/e2e/wss_chat_client.py`; returns its first line (`from ADDR as guest-N`) once
/// printed, and its whole stdout once it has ended successfully.
fn python_wss_client(url: &str, ca: &str, nick: &str, text: &str) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/wss_chat_client.py");
    // Debian's python3, where `apt-get install python3-websockets` puts the library.
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .args([url, ca, nick, text])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/python3");
    let out = pipe_lines(child.stdout.take().expect("piped stdout"));
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut child = Running(child);
    // The script gives up after 30 s; this is the backstop if Python itself hangs.
    let deadline = Instant::now() + PATIENCE * 4;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match out.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("the Python client hangs: {lines:?}"),
        }
    }
    let status = child.0.wait().expect("wait for python");
    let mut problem = String::new();
    let _ = stderr.read_to_string(&mut problem);
    assert!(
        status.success(),
        "the Python client failed ({status}): {lines:?}\n{problem}"
    );
    let first = lines.first().cloned().unwrap_or_default();
    (first, lines.join("\n"))
}

#[test]
#[ignore = "needs nginx, openssl, python3-websockets and Chromium: run make e2e"]
fn python_and_chromium_chat_over_wss_through_nginx() {
    let dir = TempDir::new("e2e-proxy");
    make_certificate(&dir);
    let plainsock = Plainsock::start();
    let nginx = Nginx::start(&dir, plainsock.ws);
    let mut tcp = tcp_member(plainsock.tcp);

    // Plain http only moves the visitor to https.
    let mut plain = TcpStream::connect(("127.0.0.1", nginx.http)).expect("connect to :80");
    plain.set_read_timeout(Some(PATIENCE)).unwrap();
    plain
        .write_all(b"GET /ws HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = plain.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 301 "), "{answer}");
    assert!(
        answer.contains("\r\nLocation: https://chat.example/ws\r\n"),
        "{answer}"
    );

    // Python over wss://, trusting the test's certificate and nothing else.
    let url = format!("wss://127.0.0.1:{}/ws", nginx.https);
    let text = "hello from python over wss";
    let (first, report) = python_wss_client(&url, &dir.path("cert.pem"), "py", text);
    tcp.expect(&format!("py: {text}"));
    // `from 127.0.0.1:PORT as guest-N`: plainsock names Python's end of its TLS connection to
    // nginx — not nginx's own connection to plainsock, which is all a server without
    // --trust-proxy would see, nor the 203.0.113.66 that Python itself claimed to be.
    let mut words = first.split_whitespace();
    let (from, guest) = (words.nth(1), words.nth(1));
    let (Some(from), Some(guest)) = (from, guest) else {
        panic!("the Python client said {report:?}");
    };
    assert_eq!(
        plainsock.joined(guest),
        format!("{from} joined over websocket as {guest}"),
        "nginx log:\n{}",
        nginx.log_so_far()
    );

    // Chromium opens https://…/ and chats over wss:// (the page's origin is https:// and
    // nginx's host, which plainsock accepts from its trusted proxy only).
    let mut browser = Chromium::launch_with("proxy", &["--ignore-certificate-errors"]);
    let mut page = open_chat_at(&mut browser, &format!("https://127.0.0.1:{}/", nginx.https));
    set_nick(&mut page, "ann");
    say(&mut page, "hello from the browser over wss");
    tcp.expect("ann: hello from the browser over wss");
    tcp.send("hi ann");
    wait_for_line(&mut page, &format!("{}: hi ann", tcp.nick));

    // Another page, forced onto long polling (`/socket.io/` through the same nginx).
    let mut polling = open_chat_at(
        &mut browser,
        &format!("https://127.0.0.1:{}/?transport=polling", nginx.https),
    );
    set_nick(&mut polling, "lea");
    say(&mut polling, "hello from the browser over long polling");
    tcp.expect("lea: hello from the browser over long polling");
    wait_for_line(&mut page, "lea: hello from the browser over long polling");
    tcp.send("hi lea");
    wait_for_line(&mut polling, &format!("{}: hi lea", tcp.nick));
    tcp.send("/who");
    let who = tcp.expect_prefix("* 3 online: ");
    for member in [
        "ann (websocket from 127.0.0.1:",
        "lea (polling from 127.0.0.1:",
    ] {
        assert!(who.contains(member), "{who}");
    }
}
