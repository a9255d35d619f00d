//! Just enough HTTP/1.1 (RFC 9112) for the WebSocket opening handshake and a few plain
//! answers (the chat page, 404, 405, 503 ...).
//!
//! Reading a head is split in two: [`HeadParser`] finds where the head ends without doing
//! any I/O (so it can be fed 1 byte or 1 MB at a time and tested without sockets), then
//! [`parse_request`] / [`parse_response`] turn the complete head into fields.
//!
//! Line endings: we accept CRLF and also a bare LF (RFC 9112 §2.2 allows it), so a person
//! typing into `nc` gets an answer. A bare CR is refused (RFC 9112 §2.2).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// More header lines than this is an attack or a bug, not a browser: 431.
pub const MAX_HEADERS: usize = 100;

/// A refused request: `status` is the answer we send, `reason` its body, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub reason: String,
}

impl HttpError {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        HttpError {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason_phrase(self.status),
            self.reason
        )
    }
}

impl std::error::Error for HttpError {}

fn bad_request(reason: impl Into<String>) -> HttpError {
    HttpError::new(400, reason)
}

/// A request head. Header names keep their case; look them up with [`Request::header`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub version: Version,
    pub headers: Vec<(String, String)>,
}

/// The request's HTTP version. A later 1.x is read as 1.1 (RFC 9110 §2.5); the answer is always
/// an HTTP/1.1 response, which a 1.0 client reads too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: no `Host` required, no keep-alive unless asked (RFC 9112 §9.3), no upgrade.
    Http10,
    Http11,
}

/// A response head, as the client reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

/// Every value of header `name` (names are case-insensitive, RFC 9110 §5.1; may repeat).
fn values<'h>(headers: &'h [(String, String)], name: &str) -> impl Iterator<Item = &'h str> {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Every comma-separated element of header `name` over all its lines (RFC 9110 §5.6.1).
fn tokens<'h>(headers: &'h [(String, String)], name: &str) -> impl Iterator<Item = &'h str> {
    values(headers, name)
        .flat_map(|v| v.split(','))
        .map(|t| t.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
}

macro_rules! header_lookups {
    ($t:ty) => {
        impl $t {
            /// The first value of header `name`, compared case-insensitively.
            pub fn header(&self, name: &str) -> Option<&str> {
                values(&self.headers, name).next()
            }
            /// How many lines carry header `name`.
            pub fn header_count(&self, name: &str) -> usize {
                values(&self.headers, name).count()
            }
            /// The comma-separated elements of header `name`, over all its lines.
            pub fn tokens(&self, name: &str) -> impl Iterator<Item = &str> {
                tokens(&self.headers, name)
            }
            /// Whether header `name` lists `token` (case-insensitive), e.g. `Connection: Upgrade`.
            pub fn has_token(&self, name: &str, token: &str) -> bool {
                tokens(&self.headers, name).any(|t| t.eq_ignore_ascii_case(token))
            }
        }
    };
}
header_lookups!(Request);
header_lookups!(Response);

/// Finds the end of a head (the first empty line) in bytes that arrive in any pieces.
///
/// It remembers where it stopped searching, so every byte is examined a bounded number of
/// times however the input is split: at most the last `\n` and the `\r` after it are looked
/// at again. A parser that restarts from 0 on each read is quadratic: 1 MB sent a byte at a
/// time would cost 500 GB of comparisons.
///
/// The answer depends only on the bytes, never on how they were cut into reads: bytes past
/// `limit` are never examined, so a head too large is refused the same way (414 or 431)
/// whether it came whole or a byte at a time, even if something worse follows the limit.
#[derive(Debug)]
pub struct HeadParser {
    buf: Vec<u8>,
    /// Next position to examine.
    scan: usize,
    /// Length of the head, once its empty line was found.
    end: Option<usize>,
    /// Still inside the request/status line? Its bytes tell "HTTP" from random data early.
    first_line: bool,
    /// Bytes of one empty line before the request line, ignored (RFC 9112 §2.2).
    skipped: usize,
    /// Parsing a response: its first line must be a status line (`HTTP/...`).
    response: bool,
    limit: usize,
    examined: usize,
}

impl HeadParser {
    /// A parser for a request head: longer than `limit` bytes is refused with 414 (the
    /// request line alone is too long, RFC 9112 §3) or 431.
    pub fn new(limit: usize) -> Self {
        HeadParser {
            buf: Vec::new(),
            scan: 0,
            end: None,
            first_line: true,
            skipped: 0,
            response: false,
            limit,
            examined: 0,
        }
    }

    /// A parser for a response head: as soon as its first line is complete, a line that is
    /// not a status line (`HTTP/1.1 101 ...`) is refused, so a client that reached some other
    /// server (a chat port greeting it with `* welcome`) fails at once, quoting that line.
    pub fn for_response(limit: usize) -> Self {
        HeadParser {
            response: true,
            ..HeadParser::new(limit)
        }
    }

    /// Adds bytes that just arrived. `Ok(true)` once the head is complete; bytes after it
    /// are kept as leftover (they belong to whatever follows, e.g. a first WebSocket frame).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, HttpError> {
        self.buf.extend_from_slice(bytes);
        if self.end.is_some() {
            return Ok(true);
        }
        while let Some(&b) = self.buf.get(self.scan) {
            if self.scan >= self.limit {
                return Err(self.too_large());
            }
            self.examined += 1;
            if self.first_line {
                if b == b'\n' {
                    let before = &self.buf[self.skipped..self.scan];
                    if !self.response && self.skipped == 0 && (before.is_empty() || before == b"\r")
                    {
                        // RFC 9112 §2.2: ignore one empty line before the request line.
                        self.skipped = self.scan + 1;
                        self.scan += 1;
                        continue;
                    }
                    if !self.response && (before.is_empty() || before == b"\r") {
                        return Err(bad_request("empty request line"));
                    }
                    if self.response && !before.starts_with(b"HTTP/") {
                        return Err(not_a_status_line(before));
                    }
                    self.first_line = false;
                } else if !(b == b' ' || b == b'\r' || b.is_ascii_graphic() || b >= 0x80) {
                    return Err(not_http(&self.buf[self.skipped..]));
                }
            }
            if b == b'\n' {
                // The head ends at "\n\n" or "\n\r\n"; wait here if the next bytes are missing.
                let next = self.buf.get(self.scan + 1).copied();
                let after = self.buf.get(self.scan + 2).copied();
                self.examined += usize::from(next.is_some()) + usize::from(after.is_some());
                let end = match (next, after) {
                    (Some(b'\n'), _) => Some(self.scan + 2),
                    (Some(b'\r'), Some(b'\n')) => Some(self.scan + 3),
                    (None, _) | (Some(b'\r'), None) => return self.check_limit(),
                    _ => None,
                };
                if let Some(end) = end {
                    if end > self.limit {
                        return Err(self.too_large());
                    }
                    self.end = Some(end);
                    return Ok(true);
                }
            }
            self.scan += 1;
        }
        self.check_limit()
    }

    /// Not complete yet: if `limit` bytes came without an empty line, the head is too large.
    fn check_limit(&self) -> Result<bool, HttpError> {
        if self.buf.len() >= self.limit {
            Err(self.too_large())
        } else {
            Ok(false)
        }
    }

    /// 414 while the request line is still not complete (its target is too long), else 431.
    fn too_large(&self) -> HttpError {
        if self.first_line && !self.response {
            let limit = self.limit;
            HttpError::new(414, format!("request line longer than {limit} bytes"))
        } else {
            too_large(self.limit)
        }
    }

    /// How many byte comparisons the search has made so far (the linearity test watches it).
    pub fn examined(&self) -> usize {
        self.examined
    }

    /// `(head, leftover)` once [`feed`](Self::feed) returned `Ok(true)`, else `None`.
    /// An ignored empty line before the request line is not part of the head.
    pub fn into_parts(mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        let end = self.end?;
        let leftover = self.buf.split_off(end);
        self.buf.drain(..self.skipped);
        Some((self.buf, leftover))
    }
}

fn too_large(limit: usize) -> HttpError {
    HttpError::new(431, format!("request head larger than {limit} bytes"))
}

fn not_a_status_line(line: &[u8]) -> HttpError {
    let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
    let line: String = line.chars().take(80).collect();
    bad_request(format!(
        "not HTTP: the server said {line:?} (is this the right port?)"
    ))
}

/// Does a byte stream starting with `first` look like TLS? A TLS record starts with content
/// type 22 (handshake), then version 3.x (RFC 8446 §5.1): no text protocol starts with 0x16.
pub fn is_tls_start(first: u8) -> bool {
    first == 0x16
}

/// Is `line` (without its CRLF) an HTTP request line, `METHOD TARGET HTTP/d.d` (RFC 9112 §3)?
/// For ports that speak another text protocol and must not take a browser's request as
/// their own input. Strict, so a person's sentence is not mistaken for one: an upper-case
/// method, a target in one of the four forms of RFC 9112 §3.2 (`/path`, `http://...`,
/// `host:port` for CONNECT, `*`), and the version last.
pub fn is_request_line(line: &[u8]) -> bool {
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let [method, target, version] = parts.as_slice() else {
        return false;
    };
    let method_ok =
        !method.is_empty() && method.iter().all(|b| b.is_ascii_uppercase() || *b == b'-');
    let target_ok = target.starts_with(b"/")
        || *target == b"*"
        || target.windows(3).any(|w| w == b"://")
        || (*method == b"CONNECT" && target.contains(&b':'));
    let version_ok = matches!(version,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit());
    method_ok && target_ok && version_ok
}

fn not_http(seen: &[u8]) -> HttpError {
    if seen.first().copied().is_some_and(is_tls_start) {
        bad_request(
            "not HTTP: this looks like a TLS ClientHello (https:// or wss://?); use http:// or ws://",
        )
    } else {
        bad_request("not HTTP: binary bytes in the request line")
    }
}

/// RFC 9110 §5.6.2: token characters, the alphabet of methods and header names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Splits a complete head into lines without their CRLF/LF, up to the empty line.
fn head_lines(head: &[u8]) -> Result<Vec<&[u8]>, HttpError> {
    let mut lines = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&b'\r') {
            return Err(bad_request("bare CR in the head"));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// RFC 9112 §5: `name ":" OWS value OWS`, one per line, at most [`MAX_HEADERS`].
fn parse_headers(lines: &[&[u8]]) -> Result<Vec<(String, String)>, HttpError> {
    if lines.len() > MAX_HEADERS {
        return Err(HttpError::new(
            431,
            format!("more than {MAX_HEADERS} header lines"),
        ));
    }
    let mut headers = Vec::with_capacity(lines.len());
    for line in lines {
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            return Err(bad_request(
                "obsolete line folding in a header (RFC 9112 §5.2)",
            ));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(bad_request("header line without ':'"));
        };
        let (name, value) = line.split_at(colon);
        if !is_token(name) {
            return Err(bad_request(
                "bad header name (spaces before ':' are not allowed)",
            ));
        }
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7F) {
            return Err(bad_request(format!(
                "control character in header {}",
                String::from_utf8_lossy(name)
            )));
        }
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    Ok(headers)
}

/// Parses a complete request head (as found by [`HeadParser`]): HTTP/1.1, with one `Host`.
pub fn parse_request(head: &[u8]) -> Result<Request, HttpError> {
    let lines = head_lines(head)?;
    let Some((request_line, header_lines)) = lines.split_first() else {
        return Err(bad_request("empty request"));
    };
    // RFC 9112 §3: method SP request-target SP HTTP-version, single spaces.
    let parts: Vec<&[u8]> = request_line.split(|&b| b == b' ').collect();
    let malformed = || bad_request("malformed request line: expected METHOD TARGET HTTP/1.1");
    let [method, target, version] = parts.as_slice() else {
        return Err(malformed());
    };
    if !is_token(method) || target.is_empty() || !target.iter().all(u8::is_ascii_graphic) {
        return Err(malformed());
    }
    // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT. 1.0 is still spoken (curl
    // --http1.0, health checks, nginx's default upstream version); a later 1.x is served as 1.1
    // (RFC 9110 §2.5: the highest minor version we support); anything else gets 505.
    let version = match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0'] => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'1'..=b'9'] => Version::Http11,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::new(
                505,
                format!(
                    "HTTP/{}.{} is not supported: this server speaks HTTP/1.1 and 1.0",
                    char::from(*major),
                    char::from(*minor)
                ),
            ));
        }
        _ => return Err(malformed()),
    };
    let request = Request {
        method: String::from_utf8_lossy(method).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        version,
        headers: parse_headers(header_lines)?,
    };
    // RFC 9112 §3.2: an HTTP/1.1 request without Host, or any request with more than one,
    // MUST get 400.
    match request.header_count("Host") {
        0 if version == Version::Http10 => Ok(request),
        0 => Err(bad_request("missing Host header")),
        1 => Ok(request),
        _ => Err(bad_request("more than one Host header")),
    }
}

impl Request {
    /// An absolute-form target (`http://host/path`, RFC 9112 §3.2.2) as `(authority, rest)`;
    /// `None` for the usual origin form (`/path?query`).
    fn absolute_form(&self) -> Option<(&str, &str)> {
        let target = self.target.as_str();
        let scheme_end = target.find("://")?;
        let scheme = &target[..scheme_end];
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return None;
        }
        let rest = &target[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        Some(rest.split_at(authority_end))
    }

    /// The target's path without its query, for routing: `/ws` for `/ws?x=1`, and also for the
    /// absolute form `http://host/ws`, which a server MUST accept (RFC 9112 §3.2.2).
    pub fn path(&self) -> &str {
        let rest = self
            .absolute_form()
            .map_or(self.target.as_str(), |(_, rest)| rest);
        match rest.split('?').next().unwrap_or_default() {
            "" => "/",
            path => path,
        }
    }

    /// The query after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        let rest = self
            .absolute_form()
            .map_or(self.target.as_str(), |(_, rest)| rest);
        rest.split_once('?').map(|(_, query)| query)
    }

    /// The host the request is for: an absolute-form target's authority, which wins over the
    /// `Host` header (RFC 9112 §3.2.2), else the `Host` header.
    pub fn host(&self) -> Option<&str> {
        match self.absolute_form() {
            Some((authority, _)) => Some(authority),
            None => self.header("Host"),
        }
    }
}

/// Parses a complete response head: `HTTP/1.x SP 3DIGIT SP reason` (RFC 9112 §4).
pub fn parse_response(head: &[u8]) -> Result<Response, HttpError> {
    let lines = head_lines(head)?;
    let Some((status_line, header_lines)) = lines.split_first() else {
        return Err(bad_request("empty response"));
    };
    let text = String::from_utf8_lossy(status_line);
    let mut parts = text.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    let status = match code.parse::<u16>() {
        Ok(s) if version.starts_with("HTTP/1.") && code.len() == 3 && s >= 100 => s,
        _ => return Err(bad_request(format!("malformed status line {text:?}"))),
    };
    Ok(Response {
        status,
        reason: reason.to_string(),
        headers: parse_headers(header_lines)?,
    })
}

/// Why reading a head stopped: the peer sent something wrong, or the transport failed
/// (`TimedOut` when the deadline passed, `UnexpectedEof` when the peer closed early).
#[derive(Debug)]
pub enum HeadError {
    Http(HttpError),
    Io(io::Error),
}

/// Reads from `stream` until a whole head arrived; returns `(head, leftover)`.
///
/// One `deadline` covers the whole head: the socket's read timeout is set to the time left
/// before every read, so a peer sending 1 byte per second cannot stretch it (slow loris).
/// The stream's previous read timeout is restored afterwards.
pub fn read_head(
    stream: &TcpStream,
    limit: usize,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    read_head_with(stream, HeadParser::new(limit), Vec::new(), deadline)
}

/// [`read_head`] for a response head, as a client reads it ([`HeadParser::for_response`]).
pub fn read_response_head(
    stream: &TcpStream,
    limit: usize,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    read_head_with(
        stream,
        HeadParser::for_response(limit),
        Vec::new(),
        deadline,
    )
}

/// Like [`read_head`], when `already` holds bytes read past the previous request on this
/// connection (HTTP keep-alive): they are the start of this head.
pub fn read_head_after(
    stream: &TcpStream,
    already: Vec<u8>,
    limit: usize,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    read_head_with(stream, HeadParser::new(limit), already, deadline)
}

fn read_head_with(
    stream: &TcpStream,
    parser: HeadParser,
    already: Vec<u8>,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let before = stream.read_timeout().map_err(HeadError::Io)?;
    let result = read_head_until(stream, parser, already, deadline);
    let restored = stream.set_read_timeout(before);
    let parts = result?;
    restored.map_err(HeadError::Io)?;
    Ok(parts)
}

fn read_head_until(
    mut stream: &TcpStream,
    mut parser: HeadParser,
    already: Vec<u8>,
    deadline: Instant,
) -> Result<(Vec<u8>, Vec<u8>), HeadError> {
    let timed_out = || {
        HeadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "HTTP head not complete in time",
        ))
    };
    if parser.feed(&already).map_err(HeadError::Http)? {
        return parser
            .into_parts()
            .ok_or_else(|| HeadError::Http(bad_request("internal: head complete without parts")));
    }
    // On the heap, not the stack: a connection thread's stack pages stay resident for the
    // member's whole life once touched (10,000 members: 40 MB).
    let mut chunk = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        stream.set_read_timeout(Some(left)).map_err(HeadError::Io)?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                let eof = io::ErrorKind::UnexpectedEof;
                return Err(HeadError::Io(io::Error::new(
                    eof,
                    "connection closed inside the HTTP head",
                )));
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => return Err(timed_out()),
            Err(e) => return Err(HeadError::Io(e)),
        };
        let done = parser
            .feed(chunk.get(..n).unwrap_or_default())
            .map_err(HeadError::Http)?;
        if done {
            if let Some(parts) = parser.into_parts() {
                return Ok(parts);
            }
            return Err(HeadError::Http(bad_request(
                "internal: head complete without parts",
            )));
        }
    }
}

/// Did a read fail because its timeout passed? (Linux reports that as `WouldBlock`.)
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads and parses a request head within `timeout`; returns it with the leftover bytes.
/// Transport failures become answers too: 408 for the timeout, 400 for a closed or broken
/// connection (sending them may fail; that is fine).
pub fn read_request_head(
    stream: &TcpStream,
    limit: usize,
    timeout: Duration,
) -> Result<(Request, Vec<u8>), HttpError> {
    read_request_head_after(stream, Vec::new(), limit, timeout)
}

/// Like [`read_request_head`], when `already` holds the start of the head (see [`read_head_after`]).
pub fn read_request_head_after(
    stream: &TcpStream,
    already: Vec<u8>,
    limit: usize,
    timeout: Duration,
) -> Result<(Request, Vec<u8>), HttpError> {
    match read_head_after(stream, already, limit, Instant::now() + timeout) {
        Ok((head, leftover)) => Ok((parse_request(&head)?, leftover)),
        Err(HeadError::Http(e)) => Err(e),
        Err(HeadError::Io(e)) if e.kind() == io::ErrorKind::TimedOut => Err(HttpError::new(
            408,
            format!("request head not complete within {timeout:?}"),
        )),
        Err(HeadError::Io(e)) => Err(bad_request(e.to_string())),
    }
}

/// RFC 9110 §15: the reason phrases of the statuses plainsock uses.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a complete final response in one `write`: status line, `Date`, `headers` (pass your
/// own `Content-Type`), then `Content-Length`, `Connection: close` and `body`.
/// A header containing CR or LF is refused (it would let a value inject headers).
pub fn write_response(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    write_response_with(w, status, headers, body, true, "close")
}

/// The answer to `HEAD`: exactly the head [`write_response`] would send for `body` (its
/// `Content-Length` included), without the body (RFC 9110 §9.3.2).
pub fn write_response_head(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    write_response_with(w, status, headers, body, false, "close")
}

/// Like [`write_response`], but the connection stays open for the client's next request
/// (`Connection: keep-alive`, RFC 9112 §9.3): long-polling clients ask again at once.
pub fn write_response_keep_alive(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    write_response_with(w, status, headers, body, true, "keep-alive")
}

fn write_response_with(
    w: &mut impl Write,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    with_body: bool,
    connection: &str,
) -> io::Result<()> {
    let date = http_date(SystemTime::now());
    let out = response_bytes(status, headers, body, with_body, connection, &date)?;
    w.write_all(&out)?;
    w.flush()
}

fn response_bytes(
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    with_body: bool,
    connection: &str,
    date: &str,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(200 + body.len());
    write!(
        out,
        "HTTP/1.1 {status} {}\r\nDate: {date}\r\n",
        reason_phrase(status)
    )?;
    for (name, value) in headers {
        if !is_token(name.as_bytes()) || value.contains(['\r', '\n']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad response header",
            ));
        }
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(
        out,
        "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )?;
    if with_body {
        out.extend_from_slice(body);
    }
    Ok(out)
}

/// RFC 9110 §5.6.7: `time` as an IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, the form of
/// the `Date` header (§6.6.1). UTC has no leap seconds in Unix time, so it is plain arithmetic.
pub fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // A clock set before 1970 gives the epoch rather than a panic.
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
/// Howard Hinnant's `civil_from_days`: count in 400-year eras (146,097 days each) of years
/// that start on March 1st, so the leap day is the last day of a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

// ---------------------------------------------------------------------------------------------
// Keep-alive: more than one request on a connection, and request bodies (RFC 9112 §6, §9.3)

/// Does the client let the connection carry another request? HTTP/1.1's default is yes,
/// unless it says `Connection: close` (RFC 9112 §9.3). An HTTP/1.0 client gets one answer and
/// the close it expects: its `Connection: keep-alive` is an option a server may decline.
pub fn wants_keep_alive(request: &Request) -> bool {
    request.version == Version::Http11 && !request.has_token("Connection", "close")
}

/// Waits up to `idle` for the client's next request on a kept-alive connection, then reads
/// its head within `head_timeout`. `leftover` is what was read past the previous request.
/// `Ok(None)`: the client closed the connection, or sent nothing in time; both end it quietly.
pub fn next_request(
    stream: &TcpStream,
    leftover: Vec<u8>,
    limit: usize,
    idle: Duration,
    head_timeout: Duration,
) -> Result<Option<(Request, Vec<u8>)>, HttpError> {
    if leftover.is_empty() {
        let mut first = [0u8; 1];
        let waited = stream
            .set_read_timeout(Some(idle.max(Duration::from_millis(1))))
            .and_then(|()| stream.peek(&mut first));
        if !matches!(waited, Ok(n) if n > 0) {
            return Ok(None);
        }
    }
    read_request_head_after(stream, leftover, limit, head_timeout).map(Some)
}

/// Longest chunk-size line or trailer line of a chunked body we read.
const MAX_CHUNK_LINE: usize = 1024;
/// Most trailer lines after the last chunk.
const MAX_TRAILERS: usize = 32;

/// RFC 9112 §7.1: the chunked transfer coding, decoded as bytes arrive (sans I/O). Each chunk is
/// its size in hex on a line (`;extensions` ignored), its bytes, CRLF; size 0 ends the body,
/// then trailer lines and an empty line. The decoded body may be at most `max` bytes (413).
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: Chunk,
    line: Vec<u8>,
    body: Vec<u8>,
    max: usize,
    trailers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size,
    Data(usize),
    DataEnd,
    Trailers,
    Done,
}

impl ChunkedDecoder {
    pub fn new(max: usize) -> Self {
        ChunkedDecoder {
            state: Chunk::Size,
            line: Vec::new(),
            body: Vec::new(),
            max,
            trailers: 0,
        }
    }

    /// Takes bytes that arrived; returns how many belong to the body (the rest, once it is
    /// done, is the next request).
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, HttpError> {
        let mut used = 0;
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            match self.state {
                Chunk::Done => break,
                Chunk::Data(left) => {
                    let take = left.min(rest.len());
                    self.body
                        .extend_from_slice(rest.get(..take).unwrap_or_default());
                    used += take;
                    self.state = match left - take {
                        0 => Chunk::DataEnd,
                        left => Chunk::Data(left),
                    };
                }
                _ => {
                    used += 1;
                    match rest.first() {
                        Some(b'\n') => self.end_of_line()?,
                        Some(&b) if self.line.len() < MAX_CHUNK_LINE => self.line.push(b),
                        _ => return Err(bad_request("chunk line too long")),
                    }
                }
            }
        }
        Ok(used)
    }

    fn end_of_line(&mut self) -> Result<(), HttpError> {
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.state = match self.state {
            Chunk::Size => {
                let size = line.split(|&b| b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(size).unwrap_or_default().trim_end();
                let ok = !size.is_empty() && size.len() <= 16;
                let size = usize::from_str_radix(size, 16)
                    .ok()
                    .filter(|_| ok)
                    .ok_or_else(|| bad_request("bad chunk size"))?;
                if size > self.max.saturating_sub(self.body.len()) {
                    return Err(HttpError::new(
                        413,
                        format!("body larger than {} bytes", self.max),
                    ));
                }
                if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                }
            }
            Chunk::DataEnd if line.is_empty() => Chunk::Size,
            Chunk::DataEnd => return Err(bad_request("chunk longer than its size")),
            Chunk::Trailers if line.is_empty() => Chunk::Done,
            Chunk::Trailers if self.trailers < MAX_TRAILERS => {
                self.trailers += 1;
                Chunk::Trailers
            }
            _ => return Err(bad_request("too many trailer lines")),
        };
        Ok(())
    }

    pub fn is_done(&self) -> bool {
        self.state == Chunk::Done
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// How a request says its body ends (RFC 9112 §6.3).
fn body_length(request: &Request, max: usize) -> Result<Option<usize>, HttpError> {
    let chunked = request.header_count("Transfer-Encoding") > 0;
    let lengths: Vec<&str> = request.tokens("Content-Length").collect();
    if chunked {
        // Both framings at once is how requests are smuggled past proxies (§6.3 item 3).
        if !lengths.is_empty() {
            return Err(bad_request("both Transfer-Encoding and Content-Length"));
        }
        let codings: Vec<&str> = request.tokens("Transfer-Encoding").collect();
        if codings.len() != 1 || !codings.iter().all(|c| c.eq_ignore_ascii_case("chunked")) {
            return Err(HttpError::new(
                501,
                "only the chunked transfer coding is supported",
            ));
        }
        return Ok(None);
    }
    let Some(first) = lengths.first() else {
        return Ok(Some(0));
    };
    let valid = |v: &&str| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit());
    if !lengths.iter().all(|v| valid(v) && v == first) {
        return Err(bad_request("bad Content-Length"));
    }
    let n: u128 = first
        .parse()
        .map_err(|_| bad_request("bad Content-Length"))?;
    if n > max as u128 {
        return Err(HttpError::new(413, format!("body larger than {max} bytes")));
    }
    Ok(Some(n as usize))
}

/// Reads a request's body, `Content-Length` or chunked, at most `max` bytes (413 before
/// reading, for a declared length over it), all of it before `deadline` (408).
/// `leftover` holds what was read past the head; it is left holding what follows the body.
pub fn read_body(
    mut stream: &TcpStream,
    request: &Request,
    leftover: &mut Vec<u8>,
    max: usize,
    deadline: Instant,
) -> Result<Vec<u8>, HttpError> {
    let length = body_length(request, max)?;
    let mut chunked = ChunkedDecoder::new(max);
    let mut body = Vec::new();
    let mut input = std::mem::take(leftover);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Take what the input holds; stop once the body is whole.
        let used = match length {
            Some(n) => {
                let take = (n - body.len()).min(input.len());
                body.extend_from_slice(input.get(..take).unwrap_or_default());
                take
            }
            None => chunked.feed(&input)?,
        };
        input.drain(..used);
        let whole = match length {
            Some(n) => body.len() == n,
            None => chunked.is_done(),
        };
        if whole {
            *leftover = input;
            return Ok(if length.is_some() {
                body
            } else {
                chunked.into_body()
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(HttpError::new(408, "request body not complete in time"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err(bad_request("connection closed inside the body")),
            Ok(n) => input.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::new(408, "request body not complete in time"));
            }
            Err(e) => return Err(bad_request(e.to_string())),
        }
    }
}

/// Cross-site request forgery: any page can make a browser send a request (or open a
/// WebSocket) to any server, with the user's cookies. Browsers say which page in `Origin`,
/// so only our own pages and the `allowed` ones may. `own` is our pages' origin:
/// `http://{Host}`, or the scheme and host a trusted proxy reported.
pub fn origin_allowed(origin: &str, own: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    let own = own.is_some_and(|own| origin.eq_ignore_ascii_case(own));
    own || allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
}

/// How long and how much [`close_after_response`] drains before giving up.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;

/// Closes a connection after an answer so the peer can read the answer (RFC 9112 §9.6).
///
/// Closing a socket with unread input makes the kernel send RST, which can discard our
/// response before the client reads it (e.g. a 431 while the client still sends headers).
/// So: send FIN, then read and drop what still arrives, briefly, then close.
pub fn close_after_response(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    drain(stream, LINGER, LINGER_BYTES, LINGER);
}

/// Reads and drops what the peer still sends until it closes, `time` has passed, `bytes`
/// have arrived, or nothing came for `quiet`: the second half of a graceful close, after our
/// FIN (`Shutdown::Write`).
pub fn drain(mut stream: &TcpStream, time: Duration, bytes: usize, quiet: Duration) {
    let deadline = Instant::now() + time;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < bytes {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(quiet);
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(n) => drained += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds all of `input` in pieces of `step` bytes, like successive reads of a socket.
    fn feed_in_steps(
        input: &[u8],
        step: usize,
        limit: usize,
    ) -> Result<(Vec<u8>, Vec<u8>), HttpError> {
        let mut p = HeadParser::new(limit);
        for piece in input.chunks(step) {
            p.feed(piece)?;
        }
        p.into_parts().ok_or_else(|| bad_request("incomplete"))
    }

    const GOOD: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nX-Empty:\r\nConnection: other\r\n\r\n";

    #[test]
    fn parses_a_request_and_finds_headers_case_insensitively() {
        let (head, leftover) = feed_in_steps(GOOD, 1000, 8192).unwrap();
        assert!(leftover.is_empty());
        let req = parse_request(&head).unwrap();
        assert_eq!(
            (req.method.as_str(), req.target.as_str()),
            ("GET", "/chat?x=1")
        );
        assert_eq!(req.header("HOST"), Some("a"));
        assert_eq!(req.header("x-empty"), Some(""));
        assert_eq!(req.header_count("connection"), 2);
        assert!(req.has_token("connection", "upgrade"));
        assert!(req.has_token("Connection", "OTHER"));
        assert!(!req.has_token("Connection", "keep"));
        assert_eq!(req.header("missing"), None);
    }

    #[test]
    fn any_split_gives_the_same_head_and_leftover() {
        let mut input = GOOD.to_vec();
        input.extend_from_slice(b"\x81\x05hello");
        for step in [1, 2, 3, 5, 7, 64, input.len()] {
            let (head, leftover) = feed_in_steps(&input, step, 8192).unwrap();
            assert_eq!(head, GOOD, "step {step}");
            // Bytes fed after the head was complete are kept, in order, as leftover.
            assert_eq!(leftover, b"\x81\x05hello", "step {step}");
        }
    }

    #[test]
    fn bare_lf_line_endings_are_accepted() {
        let (head, _) = feed_in_steps(b"GET / HTTP/1.1\nHost: a\n\n", 1, 100).unwrap();
        assert_eq!(parse_request(&head).unwrap().header("host"), Some("a"));
        let (head, _) = feed_in_steps(b"GET / HTTP/1.1\nHost: a\n\r\n", 1, 100).unwrap();
        assert_eq!(parse_request(&head).unwrap().headers.len(), 1);
    }

    #[test]
    fn search_is_linear_one_byte_at_a_time() {
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        while head.len() < 1_000_000 {
            head.extend_from_slice(b"X-Filler: abcdefghij\r\n");
        }
        head.extend_from_slice(b"\r\n");
        let mut p = HeadParser::new(2_000_000);
        let mut done = false;
        for byte in head.chunks(1) {
            done = p.feed(byte).unwrap();
        }
        assert!(done);
        // Every byte is looked at once, plus at most 2 look-aheads per '\n' and 1 revisit.
        assert!(
            p.examined() <= 4 * head.len(),
            "examined {} for {} bytes",
            p.examined(),
            head.len()
        );
    }

    #[test]
    fn search_is_linear_for_a_20_mb_head() {
        let line = b"X-Filler: abcdefghijklmnopqrstuvwxyz\r\n";
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        while head.len() < 20_000_000 {
            head.extend_from_slice(line);
        }
        head.extend_from_slice(b"\r\n");
        let mut p = HeadParser::new(32_000_000);
        let mut done = false;
        for piece in head.chunks(65_536) {
            done = p.feed(piece).unwrap();
        }
        assert!(done);
        assert!(p.examined() <= 2 * head.len(), "examined {}", p.examined());
        // The same head with the default limit is refused with 431 long before its end.
        let mut small = HeadParser::new(8192);
        let err = head
            .chunks(4096)
            .find_map(|piece| small.feed(piece).err())
            .unwrap();
        assert_eq!(err.status, 431);
    }

    #[test]
    fn head_size_limit_is_431() {
        let mut endless_header = b"GET / HTTP/1.1\r\nX: ".to_vec();
        endless_header.extend_from_slice(&[b'a'; 100]);
        let err = feed_in_steps(&endless_header, 10, 50).unwrap_err();
        assert_eq!(err.status, 431);
        // The empty line arrives, but past the limit.
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.extend_from_slice(&[b'y'; 60]);
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            feed_in_steps(&long, long.len(), 50).unwrap_err().status,
            431
        );
        // Exactly at the limit is fine.
        assert!(feed_in_steps(&long, long.len(), long.len()).is_ok());
    }

    #[test]
    fn a_request_line_over_the_limit_is_414() {
        // RFC 9112 §3: a target longer than the server will parse: 414 URI Too Long.
        let mut long = b"GET /".to_vec();
        long.extend_from_slice(&[b'a'; 100]);
        long.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        for step in [1, 7, long.len()] {
            let err = feed_in_steps(&long, step, 50).unwrap_err();
            assert_eq!(err.status, 414, "step {step}");
        }
    }

    #[test]
    fn the_first_check_that_fails_is_the_same_however_the_input_is_cut() {
        // Too large before the binary byte that follows: 431 (or 414) whole and in pieces.
        let mut over = b"GET / HTTP/1.1\r\nX: ".to_vec();
        over.resize(60, b'y');
        over.push(0);
        let mut over_in_first_line = vec![b'a'; 60];
        over_in_first_line.push(0);
        let mut tls_after_a_line = b"GET / HTTP/1.1\r\n".to_vec();
        tls_after_a_line.extend_from_slice(&[b'z'; 50]);
        let rows: [(&[u8], u16); 4] = [
            (&over, 431),
            (&over_in_first_line, 414),
            (b"GET /\x00 HTTP/1.1\r\n\r\n", 400),
            (&tls_after_a_line, 431),
        ];
        for (input, want) in rows {
            for step in 1..=input.len() {
                let got = feed_in_steps(input, step, 50).unwrap_err();
                assert_eq!(got.status, want, "step {step}: {got}");
            }
        }
    }

    #[test]
    fn one_empty_line_before_the_request_line_is_ignored() {
        for input in [
            &b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"\nGET / HTTP/1.1\nHost: a\n\n",
        ] {
            for step in [1, 2, input.len()] {
                let (head, leftover) = feed_in_steps(input, step, 100).unwrap();
                assert!(leftover.is_empty());
                assert_eq!(parse_request(&head).unwrap().target, "/", "step {step}");
            }
        }
        // Only one: a second empty line is an empty request line.
        let twice = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in [1, twice.len()] {
            assert_eq!(feed_in_steps(twice, step, 100).unwrap_err().status, 400);
        }
    }

    #[test]
    fn a_response_must_start_with_a_status_line() {
        let mut p = HeadParser::for_response(8192);
        let err = p
            .feed(b"* welcome, you are guest-1 (1 online)\n")
            .unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.reason.contains("* welcome"), "{}", err.reason);
        let mut p = HeadParser::for_response(8192);
        assert_eq!(
            p.feed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Ok(true)
        );
    }

    #[test]
    fn host_missing_or_repeated_is_400() {
        assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(
            status_of(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            400
        );
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
        // HTTP/1.0 had no Host rule; two of them are still ambiguous.
        assert_eq!(status_of(b"GET / HTTP/1.0\r\n\r\n"), 200);
        assert_eq!(
            status_of(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
    }

    #[test]
    fn an_http_1_0_client_gets_one_answer_and_the_close() {
        let req = |head: &str| parse_request(head.as_bytes()).unwrap();
        assert!(!wants_keep_alive(&req("GET / HTTP/1.0\r\n\r\n")));
        assert!(!wants_keep_alive(&req(
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        )));
        assert!(wants_keep_alive(&req("GET / HTTP/1.1\r\nHost: a\r\n\r\n")));
        assert_eq!(
            req("GET / HTTP/1.2\r\nHost: a\r\n\r\n").version,
            Version::Http11
        );
    }

    #[test]
    fn versions_1_x_are_served_and_others_get_505() {
        assert_eq!(status_of(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status_of(b"GET / HTTP/1.9\r\nHost: a\r\n\r\n"), 200);
        assert_eq!(status_of(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"), 200);
        for v in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.1", "HTTP/2.1"] {
            let head = format!("GET / {v}\r\nHost: a\r\n\r\n");
            assert_eq!(status_of(head.as_bytes()), 505, "{v}");
        }
        for v in ["HTTP/1.", "HTTP/11", "HTTP/1.1.1", "http/1.1", "HTTP/x.1"] {
            let head = format!("GET / {v}\r\nHost: a\r\n\r\n");
            assert_eq!(status_of(head.as_bytes()), 400, "{v}");
        }
    }

    #[test]
    fn absolute_form_targets_are_routed_by_their_path_and_authority() {
        let req = |target: &str| {
            parse_request(format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes()).unwrap()
        };
        let abs = req("http://example.com:8080/ws?x=1");
        assert_eq!((abs.path(), abs.query()), ("/ws", Some("x=1")));
        assert_eq!(abs.host(), Some("example.com:8080"));
        let bare = req("HTTP://example.com");
        assert_eq!((bare.path(), bare.host()), ("/", Some("example.com")));
        let origin = req("/ws?y");
        assert_eq!(
            (origin.path(), origin.query(), origin.host()),
            ("/ws", Some("y"), Some("h"))
        );
        assert_eq!(req("ftp://x/ws").path(), "ftp://x/ws");
    }

    #[test]
    fn too_many_header_lines_is_431() {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 1..MAX_HEADERS {
            head.extend_from_slice(b"a: b\r\n");
        }
        let mut ok = head.clone();
        ok.extend_from_slice(b"\r\n");
        assert!(parse_request(&ok).is_ok());
        head.extend_from_slice(b"a: b\r\n\r\n");
        assert_eq!(parse_request(&head).unwrap_err().status, 431);
    }

    #[test]
    fn request_lines_are_told_from_chat_lines() {
        for line in [
            "GET / HTTP/1.1",
            "POST /login HTTP/1.1",
            "GET http://example.com/ws HTTP/1.1",
            "CONNECT example.com:443 HTTP/1.1",
            "OPTIONS * HTTP/1.1",
            "PRI * HTTP/2.0",
            "M-SEARCH * HTTP/1.1",
        ] {
            assert!(is_request_line(line.as_bytes()), "{line}");
        }
        for line in [
            "hello",
            "I love HTTP/1.1",
            "WOW so HTTP/1.1",
            "get / HTTP/1.1",
            "GET / HTTP/1.1 please",
            "GET /",
            "GET / HTTP/1",
            "",
        ] {
            assert!(!is_request_line(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn tls_and_binary_are_refused_at_the_first_byte() {
        let mut p = HeadParser::new(8192);
        let err = p.feed(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.reason.contains("TLS"), "{}", err.reason);
        assert!(p.examined() <= 1);
        let err = HeadParser::new(8192).feed(b"GE\x00T").unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.reason.contains("not HTTP"));
    }

    fn status_of(head: &[u8]) -> u16 {
        parse_request(head)
            .map(|_| 200)
            .unwrap_or_else(|e| e.status)
    }

    #[test]
    fn malformed_heads_are_400() {
        for head in [
            &b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1 x\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET / FTP/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n: empty name\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(status_of(head), 400, "{}", String::from_utf8_lossy(head));
        }
        // Values are trimmed of spaces and tabs; inner tabs are fine.
        let req = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\nA: \t x\ty \t\r\n\r\n").unwrap();
        assert_eq!(req.header("a"), Some("x\ty"));
    }

    #[test]
    fn parses_responses() {
        let r = parse_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
        assert_eq!((r.status, r.reason.as_str()), (101, "Switching Protocols"));
        assert!(r.has_token("upgrade", "WebSocket"));
        assert_eq!(parse_response(b"HTTP/1.1 404\r\n\r\n").unwrap().reason, "");
        assert_eq!(
            parse_response(b"HTTP/1.1 4044 x\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_response(b"SSH-2.0-OpenSSH\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn writes_complete_responses() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let text = [("Content-Type", "text/plain")];
        let out = response_bytes(404, &text, b"nope", true, "close", date).unwrap();
        let head = "HTTP/1.1 404 Not Found\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n";
        assert_eq!(out, format!("{head}nope").as_bytes());
        // HEAD: the same head, Content-Length included, and no body (RFC 9110 §9.3.2).
        let out = response_bytes(404, &text, b"nope", false, "close", date).unwrap();
        assert_eq!(out, head.as_bytes());
        let mut written = Vec::new();
        write_response_head(&mut written, 404, &text, b"nope").unwrap();
        let written = parse_response(&written).unwrap();
        assert_eq!(written.header("Content-Length"), Some("4"));
        assert!(written.header("Date").is_some_and(|d| d.ends_with(" GMT")));
        let injected = write_response(&mut Vec::new(), 200, &[("X", "a\r\nSet-Cookie: x")], b"");
        assert_eq!(injected.unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
    }

    #[test]
    fn dates_are_imf_fixdates() {
        let at = |secs| http_date(UNIX_EPOCH + Duration::from_secs(secs));
        // RFC 9110 §5.6.7's own example.
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Leap days: 2000 is a leap year (divisible by 400), 2024 an ordinary one.
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(at(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(at(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
        // Before the epoch: the epoch, not a panic.
        assert_eq!(
            http_date(UNIX_EPOCH - Duration::from_secs(1)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }

    #[test]
    fn only_our_own_pages_and_listed_origins_are_allowed() {
        let listed = vec!["https://chat.example".to_string()];
        let own = Some("http://127.0.0.1:8080");
        assert!(origin_allowed("http://127.0.0.1:8080", own, &[]));
        assert!(origin_allowed(
            "HTTP://LOCALHOST:8080/",
            Some("http://localhost:8080"),
            &[]
        ));
        assert!(!origin_allowed("http://evil.example", own, &[]));
        assert!(!origin_allowed("http://127.0.0.1:9999", own, &[]));
        assert!(!origin_allowed("null", own, &[]));
        // Behind a TLS proxy, our pages are https:// and the proxy's host.
        let behind = Some("https://chat.example");
        assert!(origin_allowed("https://chat.example", behind, &[]));
        assert!(!origin_allowed("http://chat.example", behind, &[]));
        assert!(!origin_allowed("https://chat.example", None, &[]));
        assert!(origin_allowed("https://chat.example", own, &listed));
    }

    #[test]
    fn writes_keep_alive_responses() {
        let mut out = Vec::new();
        write_response_keep_alive(&mut out, 200, &[], b"ok").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK\r\nDate: "), "{out}");
        assert!(
            out.ends_with("\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"),
            "{out}"
        );
        let close =
            parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!wants_keep_alive(&close));
        assert!(wants_keep_alive(
            &parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap()
        ));
    }

    fn chunked(input: &[u8], step: usize, max: usize) -> Result<(Vec<u8>, usize), HttpError> {
        let mut d = ChunkedDecoder::new(max);
        let mut used = 0;
        for piece in input.chunks(step) {
            used += d.feed(piece)?;
        }
        assert!(d.is_done(), "incomplete");
        Ok((d.into_body(), used))
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: a\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, wire.len()] {
            let (body, used) = chunked(wire, step, 100).unwrap();
            assert_eq!(body, b"hello, world", "step {step}");
            assert_eq!(&wire[used..], b"GET /next", "step {step}");
        }
        let (body, _) = chunked(b"A\nabcdefghij\n0\n\n", 1, 100).unwrap();
        assert_eq!(body, b"abcdefghij");
    }

    #[test]
    fn chunked_bodies_are_bounded() {
        let status = |wire: &[u8], max| {
            chunked(wire, 3, max)
                .map(|_| 200)
                .unwrap_or_else(|e| e.status)
        };
        assert_eq!(status(b"5\r\nhello\r\n0\r\n\r\n", 5), 200);
        assert_eq!(status(b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n", 5), 413);
        assert_eq!(status(b"FFFFFFFFFFFFFFFF\r\n", 5), 413);
        assert_eq!(status(b"1FFFFFFFFFFFFFFFF\r\n", 5), 400);
        assert_eq!(status(b"zz\r\n", 5), 400);
        assert_eq!(status(b"\r\n", 5), 400);
        assert_eq!(status(b"2\r\nabc\r\n", 5), 400);
        assert_eq!(status(&[b'1'; 2000], 5), 400);
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(b"X: y\r\n".repeat(MAX_TRAILERS + 1));
        assert_eq!(status(&trailers, 5), 400);
    }

    #[test]
    fn body_lengths_follow_rfc_9112() {
        let length = |head: &str| {
            let req = parse_request(format!("POST / HTTP/1.1\r\nHost: x\r\n{head}\r\n").as_bytes())
                .unwrap();
            body_length(&req, 1000)
        };
        assert_eq!(length("Content-Length: 10\r\n"), Ok(Some(10)));
        assert_eq!(length(""), Ok(Some(0)));
        assert_eq!(length("Transfer-Encoding: chunked\r\n"), Ok(None));
        let status = |head| length(head).unwrap_err().status;
        assert_eq!(status("Content-Length: 1001\r\n"), 413);
        assert_eq!(status("Content-Length: 99999999999999999999999\r\n"), 400);
        assert_eq!(status("Content-Length: 18446744073709551616\r\n"), 413);
        assert_eq!(status("Content-Length: -1\r\n"), 400);
        assert_eq!(status("Content-Length: 1\r\nContent-Length: 2\r\n"), 400);
        assert_eq!(
            status("Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"),
            400
        );
        assert_eq!(status("Transfer-Encoding: gzip, chunked\r\n"), 501);
    }
}
