//! Out of file descriptors (EMFILE): the accept loop must back off, not spin or exit. Only a
//! separate process can have a descriptor limit of its own, so this runs the real binary under
//! `ulimit -n 128` and floods it.

mod common;

use common::{PATIENCE, TcpChat};
use plainsock::ws::Message;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Kills the server on every path, so no test leaves a process behind.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines of a child's pipe, each to be awaited with a timeout.
fn lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
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

/// CPU time (user + system) the process has used, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name, in parentheses, may hold spaces: count fields after its ')'.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn the_accept_loop_backs_off_when_out_of_descriptors_and_recovers() {
    let mut child = Command::new("sh")
        .args([
            "-c",
            // Every client is 127.0.0.1: no per-address cap, so the flood holds descriptors.
            "ulimit -n 128 && exec \"$0\" serve --tcp 127.0.0.1:0 --udp off --ws 127.0.0.1:0 \
             --max-per-ip 0",
            env!("CARGO_BIN_EXE_plainsock"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let log = lines(child.stderr.take().unwrap());
    let pid = child.id();
    let _running = Running(child);
    let (mut tcp, mut ws) = (None, None);
    while tcp.is_none() || ws.is_none() {
        let line = out
            .recv_timeout(PATIENCE)
            .expect("serve prints its listeners");
        let mut words = line.split_whitespace();
        let (kind, addr) = (words.next(), words.next().map(str::parse::<SocketAddr>));
        match (kind, addr) {
            (Some("tcp"), Some(Ok(addr))) => tcp = Some(addr),
            (Some("ws"), Some(Ok(addr))) => ws = Some(addr),
            _ => {}
        }
    }
    let (tcp, ws) = (tcp.unwrap(), ws.unwrap());

    // 200 clients against a limit of 128 descriptors: the kernel completes every connect (the
    // listen queue holds them), but the server runs out of descriptors to accept them with.
    let flood: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(tcp).unwrap()).collect();
    let mut saw = Vec::new();
    loop {
        let line = log
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no accept failure logged; saw {saw:?}"));
        if line.contains("accept failed") {
            assert!(line.contains("Too many open files"), "{line}");
            break;
        }
        saw.push(line);
    }
    // Out of descriptors, the loop waits between tries instead of spinning on the error.
    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 50,
        "the server used {used}/100 s of CPU in 1 s at EMFILE"
    );

    // The flood leaves; the server catches up with the queue and takes new members again.
    drop(flood);
    let mut alice = TcpChat::connect(tcp);
    alice.nick = common::nick_from_welcome(&alice.expect_prefix("* welcome, you are "));
    let mut bob = TcpChat::connect(tcp);
    bob.nick = common::nick_from_welcome(&bob.expect_prefix("* welcome, you are "));
    let mut browser = plainsock::ws::client::connect(&format!("ws://{ws}/ws")).unwrap();
    browser.get_ref().set_read_timeout(Some(PATIENCE)).unwrap();
    alice.send("we got in after the flood");
    let line = format!("{}: we got in after the flood", alice.nick);
    bob.expect(&line);
    for _ in 0..10_000 {
        match browser.read() {
            Ok(Message::Text(text)) if text == line => return,
            Ok(_) => {}
            Err(e) => panic!("the WebSocket member failed: {e}"),
        }
    }
    panic!("the WebSocket member never got {line:?}");
}
