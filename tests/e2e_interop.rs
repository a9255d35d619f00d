//! Interop: plainsock's echo example (`examples/ws_echo_server.rs`) against WebSocket clients
//! nobody here wrote — Chromium's and Python's `websockets`. Every echo must be equal to what
//! was sent, and the connection must close cleanly with 1000. Node's `ws` must read the close
//! code of a message over the limit. And the client examples as a user runs them.
//!
//! `make e2e` builds the examples and runs these; `make test` skips them.

mod common;
mod e2e;

use e2e::chromium::Chromium;
use e2e::example::{Example, example_path, node_dir, run_within};
use e2e::json::Json;
use std::io::Read;
use std::io::Write;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The whole exchange (a few MiB each way over loopback) fits in this easily.
const EXCHANGE: Duration = Duration::from_secs(60);

/// Runs in the page: sends each message, awaits its echo, compares, then closes with 1000.
/// Returns `{results: [{name, equal, detail}], close: {code, wasClean}}`.
const BROWSER_CLIENT: &str = r#"
(async (url) => {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let wake = null;                                   // resolves the read that waits, if any
  const closed = new Promise((resolve) => {
    ws.onclose = (ev) => {
      resolve({ code: ev.code, wasClean: ev.wasClean });
      if (wake) wake(null);                          // no echo will come any more
    };
  });
  ws.onmessage = (ev) => {
    if (wake) { const w = wake; wake = null; w(ev.data); } else inbox.push(ev.data);
  };
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("could not open " + url));
  });
  const next = () =>
    inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { wake = r; });

  const bytes = (n, step) => Uint8Array.from({ length: n }, (_, i) => (i * step) % 251);
  const cases = [
    ["text", "hello"],
    ["empty text", ""],
    ["unicode text", "é € 😀 \u0000 end"],
    ["binary", bytes(256, 1)],
    ["empty binary", new Uint8Array(0)],
    ["1 MiB binary", bytes(1 << 20, 7)],
    ["large text", "plain é € 😀 ".repeat(40000)],
  ];
  // Text compares as UTF-16 code units, binary as bytes; both say where they first differ.
  const units = (d) => typeof d === "string" ? d : new Uint8Array(d);
  const describe = (d) =>
    d === null ? "nothing (closed)" :
    typeof d === "string" ? "text of " + d.length + " units" : "binary of " + d.byteLength + " bytes";

  const results = [];
  for (const [name, sent] of cases) {
    ws.send(sent);
    const echo = await next();
    const want = typeof sent === "string" ? sent : sent.buffer;
    let detail = "sent " + describe(want) + ", echo is " + describe(echo);
    let equal = echo !== null && typeof echo === typeof want;
    if (equal) {
      const [a, b] = [units(want), units(echo)];
      let i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      equal = i === a.length && i === b.length;
      if (!equal) detail += "; first difference at " + i;
    }
    results.push({ name, equal, detail });
  }
  ws.close(1000, "done");
  return { results, close: await closed };
})"#;

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn chromium_websocket_gets_every_echo_and_a_clean_close() {
    let server = Example::start("ws_echo_server");
    let mut browser = Chromium::launch("interop");
    let mut page = browser.open("about:blank");
    let call = format!(
        "{BROWSER_CLIENT}({})",
        Json::from(format!("ws://{}/", server.addr))
    );
    let report = page.eval_within(&call, EXCHANGE);

    let results = report.get("results").as_array().unwrap_or_default();
    assert_eq!(results.len(), 7, "every case ran: {report}");
    for result in results {
        assert_eq!(
            result.get("equal").as_bool(),
            Some(true),
            "{}: {}",
            result.get("name"),
            result.get("detail")
        );
    }
    let close = report.get("close");
    assert_eq!(close.get("code").as_f64(), Some(1000.0), "close: {close}");
    assert_eq!(
        close.get("wasClean").as_bool(),
        Some(true),
        "close: {close}"
    );
}

#[test]
#[ignore = "needs Python's websockets: run make e2e"]
fn python_websockets_gets_every_echo_and_a_clean_close() {
    let server = Example::start("ws_echo_server");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/ws_echo_client.py");
    // Debian's python3, where `apt-get install python3-websockets` puts the library.
    let child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(format!("ws://{}/", server.addr))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/python3");

    // The script has its own 60 s limit; this one is the backstop if Python itself hangs.
    let (status, stdout, stderr) = finish(child, EXCHANGE + Duration::from_secs(10));
    assert!(
        status.success(),
        "the Python client failed ({status}):\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains("echoes equal, closed with 1000"),
        "unexpected report: {stdout}"
    );
    print!("{stdout}");
}

#[test]
#[ignore = "needs Python's websockets: run make e2e"]
fn python_websockets_answers_the_read_receipts_of_a_4_mb_burst() {
    // The chat server sends a Ping with its lines now and then (after 16 KiB, then every
    // 128 KiB), holds the lines of a member whose answer is late and evicts one that leaves a
    // Ping unanswered for the write timeout: a real client answers them by itself, and a
    // burst it takes a moment to read costs it nothing.
    let server = common::server(|_| {});
    let url = format!("ws://{}/ws", server.ws_addr().expect("a ws port"));
    let mut sender = common::TcpChat::join(&server);
    const LINES: usize = 1000;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/ws_room_reader.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&url)
        .arg(&sender.nick)
        .arg(LINES.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start /usr/bin/python3");
    let lines = common::pipe_lines(child.stdout.take().expect("stdout"));
    let first = lines.recv_timeout(EXCHANGE).unwrap_or_default();
    assert_eq!(first, "joined", "the Python client did not join");
    let filler = "p".repeat(4000);
    for n in 0..LINES {
        sender.send(&format!("{n:05} {filler}"));
    }
    let report = lines.recv_timeout(EXCHANGE).unwrap_or_default();
    let (status, _, stderr) = finish(child, Duration::from_secs(10));
    assert!(
        status.success() && report == format!("got {LINES} in order"),
        "the Python client failed ({status}): {report}\n{stderr}"
    );
}

/// Node's `ws` sends a message over the server's limit, `runs` times, and must read the
/// server's Close 1009 each time: the server half-closes and drains the rest of the message
/// before closing, so no reset destroys the Close frame (which `ws` would report as 1006).
fn node_ws_reads_1009(url: &str, size: usize, runs: usize) {
    let mut node = Command::new("node");
    node.current_dir(node_dir())
        .arg("close_code.js")
        .arg(url)
        .arg(size.to_string())
        .arg(runs.to_string());
    let (status, stdout, stderr) = run_within(node, EXCHANGE);
    assert!(
        status.success(),
        "node failed ({status}):\n{stdout}{stderr}"
    );
    let codes: Vec<&str> = stdout.lines().filter(|l| l.starts_with("close ")).collect();
    assert_eq!(codes.len(), runs, "{stdout}{stderr}");
    for line in codes {
        assert!(
            line.starts_with("close 1009 "),
            "{line}, wanted 1009:\n{stdout}"
        );
    }
}

#[test]
#[ignore = "needs Node's ws from npm: run make e2e"]
fn node_ws_reads_1009_for_a_message_over_the_echo_servers_limit() {
    let server = Example::start("ws_echo_server");
    // The echo example takes frames of up to 16 MiB (ws::Config's default); one byte more.
    node_ws_reads_1009(&format!("ws://{}/", server.addr), 16 * 1024 * 1024 + 1, 6);
}

#[test]
#[ignore = "needs Node's ws from npm: run make e2e"]
fn node_ws_reads_1009_for_16_mb_sent_to_the_chat() {
    let server = common::server(|_| {});
    let url = format!("ws://{}/ws", server.ws_addr().unwrap());
    node_ws_reads_1009(&url, 16_000_000, 6);
}

/// Waits (at most `limit`) for `child` to exit; returns its status, stdout and stderr.
fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child did not finish within {limit:?}");
            }
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    (status, stdout, stderr)
}

/// Starts the client example `name` with `arg`, writes `input` to its stdin and closes it.
fn client_example(name: &str, arg: &str, input: &str) -> Child {
    let exe = example_path(name);
    assert!(
        exe.exists(),
        "{} is missing: run `cargo build --release --examples` (make e2e does)",
        exe.display()
    );
    let mut child = Command::new(&exe)
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(input.as_bytes())
        .expect("write to its stdin");
    child
}

/// `udp_client` sends each line as one datagram ending in a newline, as `nc -u` does, so that
/// `nc -u -l` on the other end prints each on its own line.
#[test]
#[ignore = "needs the examples built: run make e2e"]
fn udp_client_ends_each_datagram_with_a_newline() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let child = client_example(
        "udp_client",
        &peer.local_addr().unwrap().to_string(),
        "hello\n",
    );
    let mut buf = [0u8; 100];
    let (n, from) = peer
        .recv_from(&mut buf)
        .expect("a datagram from udp_client");
    assert_eq!(&buf[..n], b"hello\n");
    peer.send_to(b"hi back\n", from).unwrap();
    let (status, stdout, stderr) = finish(child, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stdout.lines().any(|l| l == "hi back"), "{stdout}");
}

/// `ws_client` tells the server's echo of its own Close from a Close the server started.
#[test]
#[ignore = "needs the examples built: run make e2e"]
fn ws_client_says_the_close_it_prints_is_the_echo_of_its_own() {
    let server = Example::start("ws_echo_server");
    let child = client_example("ws_client", &format!("ws://{}/", server.addr), "hello\n");
    let (status, stdout, stderr) = finish(child, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stdout.lines().any(|l| l == "hello"), "the echo: {stdout}");
    assert!(
        stderr.contains("closed: the server echoed our Close (1000 bye)"),
        "{stderr}"
    );
}
