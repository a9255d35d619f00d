//! The Chrome DevTools Protocol, spoken over plainsock's own WebSocket client.
//!
//! CDP is JSON-RPC-like: we send `{"id": N, "method": "Domain.command", "params": {...}}` as one
//! text message; the browser answers with `{"id": N, "result": {...}}` (or `"error"`), and in
//! between may send events (`{"method": ..., "params": ...}`, no id), which we skip: the tests
//! poll the page instead of listening for events.

use super::json::{self, Json};
use plainsock::ws::{Message, WebSocket, client};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long one command may take unless the caller says otherwise.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One DevTools connection: to the browser, or to one page.
pub struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl Cdp {
    /// Connects to a DevTools WebSocket URL (`ws://127.0.0.1:PORT/devtools/...`).
    pub fn connect(url: &str) -> Result<Cdp, String> {
        let ws = client::connect(url).map_err(|e| format!("DevTools connect to {url}: {e}"))?;
        Ok(Cdp { ws, next_id: 1 })
    }

    /// Sends a command and waits (at most [`CALL_TIMEOUT`]) for its result.
    pub fn call(&mut self, method: &str, params: Json) -> Result<Json, String> {
        self.call_within(method, params, CALL_TIMEOUT)
    }

    /// Sends a command and waits at most `timeout` for its result; a CDP error reply becomes
    /// `Err` with the browser's message.
    pub fn call_within(
        &mut self,
        method: &str,
        params: Json,
        timeout: Duration,
    ) -> Result<Json, String> {
        let id = self.next_id;
        self.next_id += 1;
        let request = Json::object([
            ("id", id.into()),
            ("method", method.into()),
            ("params", params),
        ]);
        self.ws
            .send(Message::Text(request.to_string()))
            .map_err(|e| format!("{method}: send: {e}"))?;

        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("{method}: no answer within {timeout:?}"));
            }
            // A read timeout keeps a silent browser from hanging the test.
            self.ws
                .get_ref()
                .set_read_timeout(Some(left))
                .map_err(|e| format!("{method}: {e}"))?;
            let text = match self.ws.read() {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(frame)) => {
                    return Err(format!(
                        "{method}: DevTools closed the connection: {frame:?}"
                    ));
                }
                Ok(_) => continue, // ping, pong, binary: not CDP
                Err(e) => return Err(format!("{method}: read: {e}")),
            };
            // A screenshot comes back as one multi-MiB base64 string.
            let limits = json::Limits {
                max_len: usize::MAX,
                max_depth: 128,
            };
            let reply = json::parse_with(&text, limits).map_err(|e| format!("{method}: {e}"))?;
            if reply.get("id").as_f64() != Some(id as f64) {
                continue; // an event, or the answer to an earlier call that timed out
            }
            let error = reply.get("error");
            if !error.is_null() {
                return Err(format!("{method} failed: {error}"));
            }
            return Ok(reply.get("result").clone());
        }
    }

    /// Says goodbye with a Close frame (code 1000); errors do not matter at this point.
    pub fn close(&mut self) {
        let _ = self
            .ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(2)));
        let _ = self.ws.close(1000, "done");
    }
}
