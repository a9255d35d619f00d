//! Interop: plainsock's echo example (`examples/ws_echo_server.rs`) against WebSocket clients
//! nobody here wrote — Chromium's and Python's `websockets`. Every echo must be equal to what
//! was sent, and the connection must close cleanly with 1000.
//!
//! `make e2e` builds the examples and runs these; `make test` skips them.

mod e2e;

use e2e::chromium::Chromium;
use e2e::example::{Example, run_within};
use e2e::json::Json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The whole exchange (a few MiB each way over loopback) fits in this easily.
const EXCHANGE: Duration = Duration::from_secs(60);

/// The echo example, running; killed when dropped.
struct EchoServer(Example);

impl EchoServer {
    fn start() -> EchoServer {
        EchoServer(Example::start("ws_echo_server"))
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.0.addr)
    }
}

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
    let server = EchoServer::start();
    let mut browser = Chromium::launch("interop");
    let mut page = browser.open("about:blank");
    let call = format!("{BROWSER_CLIENT}({})", Json::from(server.url()));
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
    let server = EchoServer::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/ws_echo_client.py");
    // Debian's python3, where `apt-get install python3-websockets` puts the library.
    let mut python = Command::new("/usr/bin/python3");
    python.arg(&script).arg(server.url());
    // The script has its own 60 s limit; this one is the backstop if Python itself hangs.
    let (status, stdout, stderr) = run_within(python, EXCHANGE + Duration::from_secs(10));
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
