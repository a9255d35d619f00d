//! The `plainsock` binary as a user runs it.

mod common;

use common::{PATIENCE, TcpChat, server};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
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

/// Lines of a child's stdout, each within PATIENCE.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn serve_prints_real_addresses_and_how_to_join() {
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
    let lines = lines_of(&mut child);
    let _running = Running(child);
    let mut tcp_line = String::new();
    let mut udp_line = String::new();
    while tcp_line.is_empty() || udp_line.is_empty() {
        let line = lines
            .recv_timeout(PATIENCE)
            .expect("serve prints its listeners");
        if line.trim_start().starts_with("tcp ") {
            tcp_line = line;
        } else if line.trim_start().starts_with("udp ") {
            udp_line = line;
        }
    }
    let addr: std::net::SocketAddr = tcp_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0, "the real port, not 0");
    assert!(
        tcp_line.ends_with(&format!("nc 127.0.0.1 {}", addr.port())),
        "{tcp_line}"
    );
    assert!(udp_line.contains("nc -u 127.0.0.1 "), "{udp_line}");
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
        (&["dance"], "unknown command 'dance'"),
        (
            &["serve", "--cluster", "http://127.0.0.1:6379"],
            "--cluster: unknown scheme \"http\"",
        ),
        (
            &["serve", "--cluster", "rediss://h"],
            "TLS is not supported",
        ),
        (&["serve", "--room", "a b"], "--room: bad room name \"a b\""),
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
        "--cluster",
        "--room",
        "chat URL",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

/// `plainsock chat` over TCP and UDP: stdin lines go to the room, room lines come to stdout.
#[test]
fn chat_clients_join_over_tcp_and_udp() {
    let server = server(|_| {});
    let mut witness = TcpChat::join(&server);
    for url in [
        format!("tcp://{}", server.tcp_addr().unwrap()),
        format!("udp://{}", server.udp_addr().unwrap()),
    ] {
        let mut child = plainsock()
            .args(["chat", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = lines_of(&mut child);
        let mut stdin = child.stdin.take().unwrap();
        let mut running = Running(child);
        let welcome = lines.recv_timeout(PATIENCE).expect("a welcome on stdout");
        let nick = common::nick_from_welcome(&welcome);
        writeln!(stdin, "hi from {url}").unwrap();
        witness.expect(&format!("{nick}: hi from {url}"));
        witness.send("hi back");
        let want = format!("{}: hi back", witness.nick);
        while lines.recv_timeout(PATIENCE).expect("room lines on stdout") != want {}
        // End of stdin: the client leaves the room and exits by itself.
        drop(stdin);
        witness.expect(&format!("* {nick} left (1 online)"));
        assert!(running.0.wait().unwrap().success());
    }
}

/// `serve --cluster` with no Redis there: one line naming the address and the OS's reason.
#[test]
fn an_unreachable_redis_is_named_with_the_os_reason() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let missing = std::env::temp_dir().join(format!(
        "plainsock-no-redis-{}/redis.sock",
        std::process::id()
    ));
    let cases = [
        (
            format!("redis://127.0.0.1:{port}"),
            format!("cannot reach Redis at redis://127.0.0.1:{port}: "),
            "connection refused",
        ),
        (
            format!("redis+unix://{}", missing.display()),
            format!("cannot reach Redis at redis+unix://{}: ", missing.display()),
            "no such file or directory",
        ),
    ];
    for (url, named, reason) in cases {
        let out = plainsock()
            .args([
                "serve",
                "--tcp",
                "127.0.0.1:0",
                "--udp",
                "off",
                "--ws",
                "off",
            ])
            .args(["--cluster", &url])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: should fail");
        assert!(stderr.contains(&named), "{url}: {stderr}");
        assert!(stderr.to_lowercase().contains(reason), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{url}: one line, got {stderr}");
        assert!(out.stdout.is_empty(), "{url}: no listener was announced");
    }
}

/// With a Redis that answers, `serve --cluster` starts.
#[test]
fn serve_starts_when_redis_answers() {
    let redis = common::redis::RedisServer::start();
    let mut child = plainsock()
        .args([
            "serve",
            "--tcp",
            "127.0.0.1:0",
            "--udp",
            "off",
            "--ws",
            "off",
        ])
        .args(["--cluster", &redis.url(), "--room", "cli-test", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let _running = Running(child);
    loop {
        let line = lines
            .recv_timeout(PATIENCE)
            .expect("serve prints its listeners");
        if line.trim_start().starts_with("tcp ") {
            break;
        }
    }
}
