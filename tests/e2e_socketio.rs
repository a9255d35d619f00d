//! Interop: plainsock's Socket.IO echo example (`examples/socketio_echo_server.rs`) against the
//! real `socket.io-client` and `engine.io-client` from npm (`tests/node/`, installed by
//! `npm ci` in `.ci/run`), once per way of connecting: the default (long polling, then the
//! upgrade to WebSocket), polling only, WebSocket only.
//!
//! `make e2e` builds the examples and runs these; `make test` skips them.

mod e2e;

use e2e::example::{Example, run_within};
use std::path::Path;
use std::process::Command;
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
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/socket.io-client").exists(),
        "socket.io-client is not installed: run `npm ci` in tests/node (.ci/run does)"
    );
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
