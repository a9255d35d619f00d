//! Server side of the opening handshake (RFC 6455 §4.2) over a `TcpStream`.
//!
//! [`read_upgrade`] reads and checks the request and hands back a [`PendingUpgrade`]: the
//! caller sees path, headers and `Origin` and then accepts or rejects. A server that also
//! serves pages reads the head itself ([`crate::http::read_request_head`]) and passes it to
//! [`upgrade`]. Every refusal is a real HTTP answer followed by a closed connection.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

use super::handshake;
use super::{Config, Error, Role, WebSocket};
use crate::http::{self, HeadError, HttpError, Request};

/// A checked upgrade request, not yet answered.
#[derive(Debug)]
pub struct PendingUpgrade {
    pub request: Request,
    stream: TcpStream,
    leftover: Vec<u8>,
    config: Config,
    key: String,
}

/// Reads the request head within `config.handshake_timeout` and checks it (RFC 6455 §4.2.1).
/// Refusals are answered here (400, 405, 408, 426, 431) and returned as `Error::Handshake`;
/// a peer that closes or breaks the connection mid-head gives `Error::Io`.
pub fn read_upgrade(stream: TcpStream, config: &Config) -> Result<PendingUpgrade, Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let parsed = match http::read_head(&stream, config.max_head_size, deadline) {
        Ok((head, leftover)) => http::parse_request(&head).map(|req| (req, leftover)),
        Err(HeadError::Http(e)) => Err(e),
        Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => {
            let timeout = config.handshake_timeout;
            Err(HttpError::new(
                408,
                format!("handshake not complete within {timeout:?}"),
            ))
        }
        Err(HeadError::Io(e)) => return Err(Error::Io(e)),
    };
    match parsed {
        Ok((request, leftover)) => upgrade(stream, request, leftover, config),
        Err(e) => Err(refuse(&stream, e)),
    }
}

/// Checks an already-read request head; `leftover` is what was read past it.
pub fn upgrade(
    stream: TcpStream,
    request: Request,
    leftover: Vec<u8>,
    config: &Config,
) -> Result<PendingUpgrade, Error> {
    match handshake::check_request(&request) {
        Ok(key) => Ok(PendingUpgrade {
            request,
            stream,
            leftover,
            config: config.clone(),
            key,
        }),
        Err(e) => Err(refuse(&stream, e)),
    }
}

/// Answers `err` (with the headers its status needs), closes, and returns it as an Error.
pub fn refuse(stream: &TcpStream, err: HttpError) -> Error {
    let body = format!("{}\n", err.reason);
    let headers = handshake::refusal_headers(err.status);
    // The peer may already be gone; the refusal stands either way.
    let _ = http::write_response(&mut &*stream, err.status, headers, body.as_bytes());
    http::close_after_response(stream);
    Error::Handshake {
        status: err.status,
        reason: err.reason,
    }
}

/// Reads the request and accepts it without a subprotocol: the whole server handshake.
///
/// An echo server for one client:
///
/// ```
/// use plainsock::ws::{self, Message};
/// use std::net::TcpListener;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let url = format!("ws://{}/", listener.local_addr()?);
/// let server = std::thread::spawn(move || -> Result<(), ws::Error> {
///     let (stream, _) = listener.accept()?;
/// #   stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
///     let mut socket = ws::server::accept(stream, &ws::Config::default())?;
///     loop {
///         match socket.read()? {
///             // `read` answers Pings and echoes the Close itself.
///             Message::Close(_) => return Ok(()),
///             message @ (Message::Text(_) | Message::Binary(_)) => socket.send(message)?,
///             _ => {}
///         }
///     }
/// });
///
/// let mut client = ws::client::connect(&url)?;
/// # client.get_ref().set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
/// client.send(Message::Text("hello".into()))?;
/// assert_eq!(client.read()?, Message::Text("hello".into()));
/// client.close(1000, "done")?;
/// assert!(matches!(client.read()?, Message::Close(Some(frame)) if frame.code == 1000));
/// server.join().expect("server thread")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept(stream: TcpStream, config: &Config) -> Result<WebSocket<TcpStream>, Error> {
    read_upgrade(stream, config)?.accept(None)
}

impl PendingUpgrade {
    /// The request path without its query, for routing (`/ws`, `/chat`); also for an
    /// absolute-form target (`http://host/ws`, RFC 9112 §3.2.2).
    pub fn path(&self) -> &str {
        self.request.path()
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.request.query()
    }

    /// The `Origin` header a browser sends (RFC 6455 §10.2): check it to refuse other sites.
    pub fn origin(&self) -> Option<&str> {
        self.request.header("Origin")
    }

    /// The subprotocols the client offered, most preferred first.
    pub fn protocols(&self) -> Vec<&str> {
        handshake::offered_protocols(&self.request)
    }

    /// The client's most preferred subprotocol among `supported`; pass it to [`accept`](Self::accept).
    pub fn choose_protocol(&self, supported: &[&str]) -> Option<String> {
        handshake::choose_protocol(&self.request, supported)
    }

    /// Bytes that arrived after the request head (often the client's first frame).
    pub fn leftover(&self) -> &[u8] {
        &self.leftover
    }

    /// The connection, e.g. for `peer_addr()`.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Answers `101 Switching Protocols` (RFC 6455 §4.2.2) and returns the WebSocket.
    /// `protocol` must be one the client offered (use [`choose_protocol`](Self::choose_protocol));
    /// anything else is refused with 500, since the client would fail the connection anyway.
    pub fn accept(self, protocol: Option<&str>) -> Result<WebSocket<TcpStream>, Error> {
        if let Some(p) = protocol
            && !self.protocols().contains(&p)
        {
            let reason = format!("server picked subprotocol {p:?}, which the client did not offer");
            return Err(refuse(&self.stream, HttpError::new(500, reason)));
        }
        let response = handshake::response_101(&self.key, protocol);
        (&self.stream).write_all(&response).map_err(Error::Io)?;
        // Each frame is written whole in one call: send it now, not after the ACK of the
        // previous one (Nagle's algorithm would hold small frames back).
        self.stream.set_nodelay(true).map_err(Error::Io)?;
        Ok(WebSocket::from_parts(
            self.stream,
            Role::Server,
            self.leftover,
            self.config,
        ))
    }

    /// Refuses with `status` (e.g. 403 for a foreign origin, 404 for an unknown path) and a
    /// plain-text `body`, then closes the connection.
    pub fn reject(self, status: u16, body: &str) -> Result<(), Error> {
        let headers = handshake::refusal_headers(status);
        let written = http::write_response(&mut &self.stream, status, headers, body.as_bytes());
        http::close_after_response(&self.stream);
        written.map_err(Error::Io)
    }
}
