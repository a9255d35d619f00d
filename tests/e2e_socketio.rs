//! Interop: plainsock's Socket.IO echo example (`examples/socketio_echo_server.rs`) against the
//! real `socket.io-client` and `engine.io-client` from npm (`tests/node/`, installed by
//! `npm ci` in `.ci/run`), once per way of connecting: the default (long polling, then the
//! upgrade to WebSocket), polling only, WebSocket only; and the same client in the chat room's
//! `/socket.io/` with TCP, UDP and WebSocket members.
//!
//! `make e2e` builds the examples and runs these; `make test` skips them.

mod common;
mod e2e;

use common::{TcpChat, UdpChat, WsChat};
use e2e::example::{Example, node_dir, run_within};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Every check has its own 10 s limit in the script; this is the backstop.
const LIMIT: Duration = Duration::from_secs(120);

/// What the script checks, each printed as `ok NAME` when it passed.
const CHECKS: &[&str] = &[
    "connects to / and gets its auth back",
    "an event comes back as message-back",
    "an ack round-trips",
    "a binary event round-trips",
    "a binary ack round-trips",
    "a 100 KB event round-trips",
    "/custom sends auth too",
    "an unknown namespace is refused",
    "the client disconnects cleanly",
    "engine.io messages come back as they went",
];

fn run_node_client(transports: &str, transport_check: &str) {
    let dir = node_dir();
    let server = Example::start("socketio_echo_server");
    let mut node = Command::new("node");
    node.current_dir(&dir)
        .arg("socketio_echo.js")
        .arg(format!("http://{}", server.addr))
        .arg(transports);
    let (status, stdout, stderr) = run_within(node, LIMIT);
    print!("{stdout}");
    assert!(
        status.success(),
        "the node client failed ({status}):\n{stdout}{stderr}"
    );
    for check in CHECKS.iter().chain([&transport_check]) {
        assert!(
            stdout.lines().any(|line| line == format!("ok {check}")),
            "check {check:?} did not pass:\n{stdout}{stderr}"
        );
    }
    assert!(
        stdout.contains(&format!("done {} passed, 0 failed", CHECKS.len() + 1)),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_with_its_default_transports_upgrades_to_websocket() {
    run_node_client("default", "upgrades from polling to websocket");
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_over_long_polling_only() {
    run_node_client("polling", "stays on polling");
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_over_websocket_only() {
    run_node_client("websocket", "stays on websocket");
}

/// The chat room's `/socket.io/` with the real client, once per way of connecting: it is
/// welcomed, its acknowledged line reaches a TCP, a UDP and a WebSocket member, it sees theirs,
/// `/who` lists it, and its disconnect is announced.
fn chat_with_node_client(transports: &str) {
    let dir = node_dir();
    let server = common::server(|_| {});
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    let mut ws = WsChat::join(&server);
    let mut node = Command::new("node")
        .current_dir(&dir)
        .arg("socketio_chat.js")
        .arg(format!("http://{}", server.ws_addr().unwrap()))
        .arg(transports)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let _kill = KillOnDrop(node.id());
    let out = common::pipe_lines(node.stdout.take().unwrap());
    let mut printed = Vec::new();
    let mut next = || {
        let line = out
            .recv_timeout(LIMIT)
            .unwrap_or_else(|_| panic!("node said nothing more:\n{printed:#?}"));
        println!("node: {line}");
        printed.push(line.clone());
        line
    };
    let nick = loop {
        let line = next();
        if let Some(nick) = line.strip_prefix("nick ") {
            break nick.to_string();
        }
        assert!(!line.starts_with("done"), "{line}");
    };
    let hello = format!("{nick}: hello from socket.io {transports}");
    tcp.expect(&hello);
    udp.expect(&hello);
    ws.expect(&hello);
    tcp.send("tcp says hi");
    udp.send("udp says hi");
    ws.send("ws says hi");
    let done = loop {
        let line = next();
        assert!(!line.starts_with("FAIL"), "{line}");
        if line.starts_with("done ") {
            break line;
        }
    };
    assert_eq!(done, "done 8 passed, 0 failed");
    tcp.expect_prefix(&format!("* {nick} left ("));
    assert!(node.wait().expect("node ends").success());
}

/// Kills a child process (by pid) if the test ends early.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.to_string()).status();
    }
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_chats_in_the_room_with_its_default_transports() {
    chat_with_node_client("default");
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_chats_in_the_room_over_long_polling() {
    chat_with_node_client("polling");
}

#[test]
#[ignore = "needs node and npm ci in tests/node: run make e2e"]
fn socketio_client_chats_in_the_room_over_websocket() {
    chat_with_node_client("websocket");
}
