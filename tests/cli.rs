//! The `plainsock` binary as a user runs it.

mod common;

use common::{PATIENCE, TcpChat, server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;

fn plainsock() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plainsock"))
}

/// Kills the child on every path, so no test leaves a process behind.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines of a child's stdout or stderr, from a thread, so that every wait can be bounded.
fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `plainsock serve` in its own process, on free ports, and the banner it printed.
struct Serve {
    running: Running,
    tcp_line: String,
    udp_line: String,
    ws_line: String,
}

impl Serve {
    fn start() -> Serve {
        let mut child = plainsock()
            .args([
                "serve",
                "--tcp",
                "127.0.0.1:0",
                "--udp",
                "127.0.0.1:0",
                "--ws",
                "127.0.0.1:0",
                "--quiet",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        let running = Running(child);
        let (mut tcp_line, mut udp_line, mut ws_line) =
            (String::new(), String::new(), String::new());
        while tcp_line.is_empty() || udp_line.is_empty() || ws_line.is_empty() {
            let line = lines
                .recv_timeout(PATIENCE)
                .expect("serve prints its listeners");
            let slot = match line.split_whitespace().next() {
                Some("tcp") => &mut tcp_line,
                Some("udp") => &mut udp_line,
                Some("ws") => &mut ws_line,
                _ => continue,
            };
            *slot = line;
        }
        Serve {
            running,
            tcp_line,
            udp_line,
            ws_line,
        }
    }

    /// The address in a banner line: `  tcp  127.0.0.1:40123  join with: …`.
    fn addr(line: &str) -> SocketAddr {
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The chat URL of each transport.
    fn urls(&self) -> [String; 3] {
        [
            format!("tcp://{}", Serve::addr(&self.tcp_line)),
            format!("udp://{}", Serve::addr(&self.udp_line)),
            format!("ws://{}/ws", Serve::addr(&self.ws_line)),
        ]
    }
}

#[test]
fn serve_prints_real_addresses_and_how_to_join() {
    let serve = Serve::start();
    let addr = Serve::addr(&serve.tcp_line);
    assert_ne!(addr.port(), 0, "the real port, not 0");
    assert!(
        serve
            .tcp_line
            .ends_with(&format!("nc 127.0.0.1 {}", addr.port())),
        "{}",
        serve.tcp_line
    );
    assert!(
        serve.udp_line.contains("nc -u 127.0.0.1 "),
        "{}",
        serve.udp_line
    );
    // The command as it was run: nothing puts `plainsock` on PATH.
    let ws = Serve::addr(&serve.ws_line);
    let chat = format!("{} chat ws://{ws}/ws", env!("CARGO_BIN_EXE_plainsock"));
    assert!(serve.ws_line.ends_with(&chat), "{}", serve.ws_line);
    let mut member = TcpChat::connect(addr);
    member.expect_prefix("* welcome, you are guest-");
}

#[test]
fn errors_are_one_clear_line_and_a_failing_exit() {
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "--bogus"], "unknown option '--bogus'"),
        (
            &["serve", "--max-conns", "many"],
            "--max-conns takes a whole number, not 'many'",
        ),
        (&["serve", "--tcp"], "--tcp needs a value"),
        (
            &["chat", "gopher://127.0.0.1:70"],
            "unknown scheme \"gopher\"",
        ),
        (&["chat", "wss://127.0.0.1:8080/ws"], "TLS is not supported"),
        (
            &["chat", "127.0.0.1:7000"],
            "has no scheme: expected tcp://HOST:PORT, udp://HOST:PORT or ws://HOST:PORT/PATH",
        ),
        (&["dance"], "unknown command 'dance'"),
    ];
    for (args, want) in cases {
        let out = plainsock().args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
    }
}

#[test]
fn an_address_in_use_is_named_with_the_os_reason() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = plainsock()
        .args(["serve", "--tcp", &addr, "--udp", "off", "--ws", "off"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot bind the TCP listener to {addr}")),
        "{stderr}"
    );
    assert!(
        stderr.to_lowercase().contains("address already in use"),
        "{stderr}"
    );
}

#[test]
fn help_documents_every_flag() {
    let out = plainsock().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--tcp",
        "--udp",
        "--ws",
        "--max-conns",
        "--quiet",
        "--max-udp-peers",
        "--max-line",
        "--udp-idle",
        "--write-timeout",
        "--ping-interval",
        "--pong-timeout",
        "--handshake-timeout",
        "--max-head",
        "--allow-origin",
        "--writers",
        "chat URL",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

/// `plainsock chat URL`, running. Its stdin stays open until `end_stdin`: a user who has not
/// pressed Ctrl-D.
struct Chat {
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    running: Running,
    nick: String,
}

impl Chat {
    fn start(url: &str) -> Chat {
        let mut child = plainsock()
            .args(["chat", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Chat {
            stdin: child.stdin.take(),
            stdout,
            stderr,
            running: Running(child),
            nick: String::new(),
        }
    }

    /// Starts it and reads the welcome, which names its nick.
    fn join(url: &str) -> Chat {
        let mut chat = Chat::start(url);
        let welcome = chat
            .stdout
            .recv_timeout(PATIENCE)
            .expect("a welcome on stdout");
        chat.nick = common::nick_from_welcome(&welcome);
        chat
    }

    /// Types a line and presses Enter.
    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
    }

    /// Ctrl-D.
    fn end_stdin(&mut self) {
        self.stdin = None;
    }

    /// Reads stdout until the line `want` (at most 10,000 lines, each within PATIENCE).
    fn expect(&self, want: &str) {
        for _ in 0..10_000 {
            if self
                .stdout
                .recv_timeout(PATIENCE)
                .expect("room lines on stdout")
                == want
            {
                return;
            }
        }
        panic!("never got {want:?} on stdout");
    }

    /// Waits until the client has ended by itself (its stderr closes; stdin may still be
    /// open); returns its exit status and what it printed on stderr.
    fn ended(&mut self) -> (ExitStatus, String) {
        let mut stderr = String::new();
        loop {
            match self.stderr.recv_timeout(PATIENCE) {
                Ok(line) => {
                    stderr.push_str(&line);
                    stderr.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("still running after {PATIENCE:?}; stderr so far: {stderr:?}")
                }
            }
        }
        (self.running.0.wait().unwrap(), stderr)
    }

    /// Every stdout line not read yet, once the client has ended (its stdout is closed).
    fn rest_of_stdout(&self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(PATIENCE) {
            lines.push(line);
            assert!(lines.len() < 10_000, "endless stdout");
        }
        lines
    }
}

/// The chat URL of each transport of an in-process server.
fn urls(server: &plainsock::Server) -> [String; 3] {
    [
        format!("tcp://{}", server.tcp_addr().unwrap()),
        format!("udp://{}", server.udp_addr().unwrap()),
        format!("ws://{}/ws", server.ws_addr().unwrap()),
    ]
}

/// `plainsock chat` over each transport: stdin lines go to the room, room lines come to
/// stdout, and the end of stdin leaves the room and ends the client.
#[test]
fn chat_clients_join_over_every_transport() {
    let server = server(|_| {});
    let mut witness = TcpChat::join(&server);
    for url in urls(&server) {
        let mut chat = Chat::join(&url);
        chat.type_line(&format!("hi from {url}"));
        witness.expect(&format!("{}: hi from {url}", chat.nick));
        witness.send("hi back");
        chat.expect(&format!("{}: hi back", witness.nick));
        chat.end_stdin();
        witness.expect(&format!("* {} left (1 online)", chat.nick));
        let (status, stderr) = chat.ended();
        assert!(status.success(), "{url}: {status}: {stderr}");
    }
}

/// `echo msg | plainsock chat URL`: the client waits for the room's last lines, so the
/// sender sees its own message before it exits.
#[test]
fn piped_stdin_shows_the_senders_own_line() {
    let server = server(|_| {});
    for url in urls(&server) {
        let mut chat = Chat::start(&url);
        chat.type_line("hello, and goodbye");
        chat.end_stdin();
        let (status, stderr) = chat.ended();
        let stdout = chat.rest_of_stdout();
        let nick = common::nick_from_welcome(stdout.first().expect("a welcome"));
        let own = format!("{nick}: hello, and goodbye");
        assert!(stdout.contains(&own), "{url}: {stdout:?}");
        assert!(status.success(), "{url}: {status}: {stderr}");
    }
}

/// `/quit` ends the client as soon as the server has said bye: no Enter, no Ctrl-D needed.
#[test]
fn quit_ends_the_client_at_once_and_successfully() {
    let server = server(|_| {});
    for url in urls(&server) {
        let mut chat = Chat::join(&url);
        chat.type_line("/quit");
        chat.expect("* bye");
        let (status, stderr) = chat.ended();
        assert!(status.success(), "{url}: {status}: {stderr}");
        let want = if url.starts_with("ws:") {
            "connection closed: 1000 bye"
        } else {
            "connection closed"
        };
        assert_eq!(stderr.trim_end(), want, "{url}");
    }
}

/// A server that is killed ends the client at once, with the news and a failing status, while
/// its user is still in the middle of typing (stdin open).
#[test]
fn a_killed_server_ends_the_client_at_once_with_a_failure() {
    for transport in 0..3 {
        let mut serve = Serve::start();
        let url = serve.urls()[transport].clone();
        let mut chat = Chat::join(&url);
        serve.running.0.kill().unwrap();
        serve.running.0.wait().unwrap();
        if url.starts_with("udp:") {
            // No connection to lose: only a send finds out, from the ICMP "port unreachable".
            chat.type_line("anyone there?");
        }
        let (status, stderr) = chat.ended();
        assert!(!status.success(), "{url}: lost, not left: {status}");
        assert!(
            stderr.starts_with("plainsock: connection closed"),
            "{url}: {stderr}"
        );
    }
}

/// A server that shuts down ends a WebSocket client with the Close frame's code and reason.
#[test]
fn a_server_shutdown_is_reported_with_its_close_code() {
    let server = server(|_| {});
    let mut chat = Chat::join(&urls(&server)[2]);
    assert!(server.shutdown());
    let (status, stderr) = chat.ended();
    assert!(!status.success(), "{status}");
    assert_eq!(
        stderr.trim_end(),
        "plainsock: connection closed: 1001 server shutting down"
    );
}
