//! RESP2, the Redis serialization protocol, by hand: a blocking client over TCP or a unix socket.
//!
//! ```text
//! client → server   *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n    a command: an array of bulk strings
//! server → client   +OK\r\n                  simple string
//!                   -ERR unknown command\r\n error (Redis's own words)
//!                   :42\r\n                  integer
//!                   $5\r\nhello\r\n          bulk string ($-1\r\n: null bulk)
//!                   *2\r\n:1\r\n:2\r\n       array       (*-1\r\n: null array)
//! ```
//!
//! The [`Parser`] is sans-I/O: it is fed bytes as they arrive and hands back one complete
//! [`Reply`] or "need more" (`Ok(None)`). A reply cut anywhere, even inside `\r\n`, resumes where
//! it stopped, so each byte is looked at a bounded number of times. Every size a server sends is
//! checked against [`Limits`] before anything is allocated for it: the server is trusted to speak
//! Redis, not to be small. [`Connection`] puts the parser on a socket; [`RedisUrl`] reads
//! `redis://HOST:PORT[/DB]` and `redis+unix:///path/to/redis.sock`.
//! Spec: <https://redis.io/docs/reference/protocol-spec/> (RESP2).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// One reply from the server; arrays nest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: a failed command, in Redis's words. Inside an array it is just a value;
    /// [`Connection::command`] turns a top-level one into [`Error::Redis`].
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$5\r\nhello`: binary safe.
    Bulk(Vec<u8>),
    /// `$-1`: "no value" (GET of a missing key).
    NullBulk,
    /// `*2 ...`
    Array(Vec<Reply>),
    /// `*-1`: "no array" (XREAD BLOCK that timed out).
    NullArray,
}

impl Reply {
    /// The text of a simple or bulk string (bulk bytes that are not UTF-8 give `None`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Reply::Simple(s) => Some(s),
            Reply::Bulk(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The items of an array; a null array is empty.
    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Reply::Array(items) => Some(items),
            Reply::NullArray => Some(Vec::new()),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Reply::NullBulk | Reply::NullArray)
    }
}

/// What can go wrong talking to Redis.
#[derive(Debug)]
pub enum Error {
    /// The socket failed, timed out, or the server closed it.
    Io(io::Error),
    /// The server sent bytes that are not RESP2, or larger than [`Limits`] allow.
    Protocol(String),
    /// The command failed; Redis's own message (`ERR ...`, `WRONGTYPE ...`).
    Redis(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Protocol(why) => write!(f, "bad reply from Redis: {why}"),
            Error::Redis(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Bounds on what one reply may make us hold.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest `+`/`-`/`:` line and length header, `\r\n` excluded.
    pub max_line: usize,
    /// Largest bulk string (Redis's own limit, `proto-max-bulk-len`, is 512 MiB).
    pub max_bulk: usize,
    /// Most items in one array.
    pub max_array: usize,
    /// Arrays inside arrays at most this deep (XREAD replies are 4 deep).
    pub max_depth: usize,
    /// Bytes of one whole reply, headers included: a bound however the sizes above combine.
    pub max_reply: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 4 * 1024,
            max_bulk: 8 * 1024 * 1024,
            max_array: 1024 * 1024,
            max_depth: 8,
            max_reply: 64 * 1024 * 1024,
        }
    }
}

/// Encodes one command as an array of bulk strings, the only form a client sends.
pub fn encode<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// An array whose items are still arriving.
struct Partial {
    items: Vec<Reply>,
    wanted: usize,
}

/// The incremental reply parser: [`feed`](Parser::feed) bytes, then call
/// [`next_reply`](Parser::next_reply) until it says `Ok(None)`.
pub struct Parser {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` already turned into values.
    pos: usize,
    /// Open arrays, outermost first.
    stack: Vec<Partial>,
    /// Bytes of the current reply consumed so far (for `max_reply`).
    reply_bytes: usize,
}

/// Most items reserved up front for an array, whatever length it announces.
const PREALLOCATE: usize = 64;

impl Parser {
    pub fn new(limits: Limits) -> Parser {
        Parser {
            limits,
            buf: Vec::new(),
            pos: 0,
            stack: Vec::new(),
            reply_bytes: 0,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        // Drop what is parsed before growing, so the buffer holds one unfinished value at most.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet part of a returned reply (0 between replies when nothing is
    /// pipelined).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed, or why the bytes are bad.
    /// After an error the stream is out of step: drop the connection.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, Error> {
        loop {
            let Some((value, used)) = self.value_at(self.pos)? else {
                let pending = self.reply_bytes + self.buffered();
                if pending > self.limits.max_reply {
                    return Err(too_big("reply", pending, self.limits.max_reply));
                }
                return Ok(None);
            };
            self.pos += used;
            self.reply_bytes += used;
            if self.reply_bytes > self.limits.max_reply {
                return Err(too_big("reply", self.reply_bytes, self.limits.max_reply));
            }
            let mut value = match value {
                Value::Done(reply) => reply,
                Value::ArrayOf(0) => Reply::Array(Vec::new()),
                Value::ArrayOf(n) => {
                    if self.stack.len() >= self.limits.max_depth {
                        return Err(Error::Protocol(format!(
                            "arrays nested deeper than {}",
                            self.limits.max_depth
                        )));
                    }
                    self.stack.push(Partial {
                        items: Vec::with_capacity(n.min(PREALLOCATE)),
                        wanted: n,
                    });
                    continue;
                }
            };
            // Close every array this value completes.
            loop {
                let Some(top) = self.stack.last_mut() else {
                    self.reply_bytes = 0;
                    return Ok(Some(value));
                };
                top.items.push(value);
                if top.items.len() < top.wanted {
                    break;
                }
                let done = self.stack.pop().map(|p| p.items).unwrap_or_default();
                value = Reply::Array(done);
            }
        }
    }

    /// One value starting at `at`: a scalar, or the header of an array; `None` if incomplete.
    fn value_at(&self, at: usize) -> Result<Option<(Value, usize)>, Error> {
        let Some((line, after)) = self.line_at(at)? else {
            return Ok(None);
        };
        let (kind, text) = match line.split_first() {
            Some((kind, text)) => (*kind, text),
            None => {
                return Err(Error::Protocol(
                    "an empty line where a type byte was due".into(),
                ));
            }
        };
        let used = after - at;
        let value = match kind {
            b'+' => Value::Done(Reply::Simple(utf8(text)?)),
            b'-' => Value::Done(Reply::Error(utf8(text)?)),
            b':' => Value::Done(Reply::Integer(integer(text)?)),
            b'$' => {
                let len = integer(text)?;
                if len == -1 {
                    return Ok(Some((Value::Done(Reply::NullBulk), used)));
                }
                let len = self.length(len, self.limits.max_bulk, "bulk string")?;
                // The bulk's bytes and their \r\n must all be here; until then, start over at
                // `at` next time (only the short header is read again).
                let end = after + len;
                if self.buf.len() < end + 2 {
                    return Ok(None);
                }
                if &self.buf[end..end + 2] != b"\r\n" {
                    return Err(Error::Protocol(format!(
                        "bulk string of {len} bytes not followed by \\r\\n"
                    )));
                }
                let bytes = self.buf[after..end].to_vec();
                return Ok(Some((Value::Done(Reply::Bulk(bytes)), end + 2 - at)));
            }
            b'*' => {
                let len = integer(text)?;
                if len == -1 {
                    return Ok(Some((Value::Done(Reply::NullArray), used)));
                }
                Value::ArrayOf(self.length(len, self.limits.max_array, "array")?)
            }
            other => {
                return Err(Error::Protocol(format!(
                    "unknown type byte {:?} (RESP3 is not spoken here)",
                    char::from(other)
                )));
            }
        };
        Ok(Some((value, used)))
    }

    /// A declared length, checked before anything is allocated for it.
    fn length(&self, len: i64, max: usize, what: &str) -> Result<usize, Error> {
        match usize::try_from(len) {
            Ok(n) if n <= max => Ok(n),
            Ok(n) => Err(too_big(what, n, max)),
            Err(_) => Err(Error::Protocol(format!("{what} of negative length {len}"))),
        }
    }

    /// The line starting at `at` without its `\r\n`, and where the next begins.
    fn line_at(&self, at: usize) -> Result<Option<(&[u8], usize)>, Error> {
        let rest = &self.buf[at..];
        let window = &rest[..rest.len().min(self.limits.max_line + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(0) => Err(Error::Protocol("a line without \\r before \\n".into())),
            Some(nl) if window[nl - 1] == b'\r' => Ok(Some((&rest[..nl - 1], at + nl + 1))),
            Some(_) => Err(Error::Protocol("a line without \\r before \\n".into())),
            None if window.len() >= self.limits.max_line + 2 => {
                Err(too_big("line", window.len(), self.limits.max_line))
            }
            None => Ok(None),
        }
    }
}

enum Value {
    Done(Reply),
    ArrayOf(usize),
}

fn too_big(what: &str, len: usize, max: usize) -> Error {
    Error::Protocol(format!(
        "{what} of {len} bytes or items, over the limit of {max}"
    ))
}

fn utf8(text: &[u8]) -> Result<String, Error> {
    String::from_utf8(text.to_vec())
        .map_err(|_| Error::Protocol("a status line that is not UTF-8".into()))
}

/// RESP integers: an optional `-` and decimal digits, nothing else, within i64.
fn integer(text: &[u8]) -> Result<i64, Error> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let ok = !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    let parsed = std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<i64>().ok());
    match parsed {
        Some(n) if ok => Ok(n),
        _ => Err(Error::Protocol(format!(
            "{:?} is not an integer",
            String::from_utf8_lossy(&text[..text.len().min(32)])
        ))),
    }
}

/// Where Redis listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

/// `redis://HOST[:PORT][/DB]` (port 6379 by default) or `redis+unix:///path/to/redis.sock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisUrl {
    pub address: Address,
    /// The logical database to `SELECT` (0 unless the URL says).
    pub db: u32,
}

impl RedisUrl {
    pub fn parse(input: &str) -> Result<RedisUrl, crate::url::UrlError> {
        let bad = |why: String| Err(crate::url::UrlError(why));
        let Some((scheme, rest)) = input.split_once("://") else {
            return bad(format!(
                "{input:?} is not a Redis URL: expected redis://HOST:PORT or redis+unix:///PATH"
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "redis+unix" | "unix" => {
                if !rest.starts_with('/') {
                    return bad(
                        "redis+unix:// needs an absolute path, as in redis+unix:///run/redis.sock"
                            .into(),
                    );
                }
                if rest.contains(['?', '#']) {
                    return bad("redis+unix:// takes a path only, no ?query or #fragment".into());
                }
                Ok(RedisUrl {
                    address: Address::Unix(PathBuf::from(rest)),
                    db: 0,
                })
            }
            "redis" => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                if authority.contains('@') {
                    return bad("user:password@ in a Redis URL is not supported".into());
                }
                let (host, port) = crate::url::split_host_port(authority)?;
                let db = match path.trim_start_matches('/') {
                    "" => 0,
                    text if text.bytes().all(|b| b.is_ascii_digit()) && text.len() < 6 => {
                        text.parse().unwrap_or(0)
                    }
                    text => {
                        return bad(format!(
                            "bad database {text:?}: expected redis://HOST:PORT/NUMBER"
                        ));
                    }
                };
                Ok(RedisUrl {
                    address: Address::Tcp {
                        host,
                        port: port.unwrap_or(6379),
                    },
                    db,
                })
            }
            "rediss" => bad("TLS is not supported (rediss://): use redis://".into()),
            other => bad(format!(
                "unknown scheme {other:?}: expected redis:// or redis+unix://"
            )),
        }
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.address {
            Address::Unix(path) => write!(f, "redis+unix://{}", path.display())?,
            Address::Tcp { host, port } if host.contains(':') => {
                write!(f, "redis://[{host}]:{port}")?
            }
            Address::Tcp { host, port } => write!(f, "redis://{host}:{port}")?,
        }
        if self.db != 0 {
            write!(f, "/{}", self.db)?;
        }
        Ok(())
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }
}

/// Closes a [`Connection`]'s socket from another thread, waking a read blocked on it.
pub struct Closer(Stream);

impl Closer {
    pub fn close(&self) {
        let _ = match &self.0 {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Both),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Both),
        };
    }
}

/// One blocking connection to Redis: send a command, read its reply.
pub struct Connection {
    stream: Stream,
    parser: Parser,
    scratch: Box<[u8]>,
}

impl Connection {
    /// Connects (within `timeout` per address for TCP; std has no timeout for a unix socket's
    /// connect, which answers at once unless the server's backlog is full), and
    /// `SELECT`s the URL's database. Every later read waits at most `timeout` too, unless
    /// [`set_read_timeout`](Connection::set_read_timeout) says otherwise.
    pub fn open(url: &RedisUrl, timeout: Duration) -> Result<Connection, Error> {
        let stream = match &url.address {
            Address::Tcp { host, port } => {
                let mut last =
                    io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
                let mut connected = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            connected = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let stream = connected.ok_or(last)?;
                // Commands are small and each waits for its reply: no Nagle delay.
                stream.set_nodelay(true)?;
                Stream::Tcp(stream)
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        let mut conn = Connection {
            stream,
            parser: Parser::new(Limits::default()),
            scratch: vec![0; 16 * 1024].into_boxed_slice(),
        };
        conn.set_read_timeout(Some(timeout))?;
        conn.set_write_timeout(Some(timeout))?;
        if url.db != 0 {
            conn.command(&["SELECT", &url.db.to_string()])?;
        }
        Ok(conn)
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match &self.stream {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// A handle that can close this connection from another thread.
    pub fn closer(&self) -> io::Result<Closer> {
        Ok(Closer(self.stream.try_clone()?))
    }

    /// Sends one command and reads its reply; an error reply becomes [`Error::Redis`].
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply, Error> {
        self.send(&[args])?;
        match self.read_reply()? {
            Reply::Error(message) => Err(Error::Redis(message)),
            reply => Ok(reply),
        }
    }

    /// Sends several commands in one write (pipelining); read their replies with
    /// [`read_reply`](Connection::read_reply), one each, in order.
    pub fn send<A: AsRef<[u8]>>(&mut self, commands: &[&[A]]) -> Result<(), Error> {
        let mut out = Vec::new();
        for args in commands {
            encode(args, &mut out);
        }
        match &mut self.stream {
            Stream::Tcp(s) => s.write_all(&out)?,
            Stream::Unix(s) => s.write_all(&out)?,
        }
        Ok(())
    }

    /// The next reply, error replies included as [`Reply::Error`].
    pub fn read_reply(&mut self) -> Result<Reply, Error> {
        loop {
            if let Some(reply) = self.parser.next_reply()? {
                return Ok(reply);
            }
            let n = match &mut self.stream {
                Stream::Tcp(s) => s.read(&mut self.scratch)?,
                Stream::Unix(s) => s.read(&mut self.scratch)?,
            };
            if n == 0 {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                )));
            }
            self.parser.feed(&self.scratch[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8], limits: Limits) -> Result<Vec<Reply>, Error> {
        let mut parser = Parser::new(limits);
        parser.feed(bytes);
        let mut out = Vec::new();
        while let Some(reply) = parser.next_reply()? {
            out.push(reply);
        }
        assert_eq!(parser.buffered(), 0, "bytes left over");
        Ok(out)
    }

    fn one(bytes: &[u8]) -> Reply {
        match parse_all(bytes, Limits::default()) {
            Ok(mut replies) if replies.len() == 1 => replies.remove(0),
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn refused(bytes: &[u8], limits: Limits) -> String {
        let mut parser = Parser::new(limits);
        parser.feed(bytes);
        match parser.next_reply() {
            Err(Error::Protocol(why)) => why,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&["SET", "k", "v\r\n"], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n");
        out.clear();
        encode::<&str>(&[], &mut out);
        assert_eq!(out, b"*0\r\n");
    }

    /// Every RESP2 type, in one reply, as the spec writes them.
    const EVERY_TYPE: &[u8] = b"*8\r\n+OK\r\n-ERR unknown command 'FOO'\r\n:-42\r\n$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n*-1\r\n*2\r\n*0\r\n*1\r\n:7\r\n";

    fn every_type() -> Reply {
        Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::Error("ERR unknown command 'FOO'".into()),
            Reply::Integer(-42),
            Reply::Bulk(b"he\r\no".to_vec()),
            bulk(""),
            Reply::NullBulk,
            Reply::NullArray,
            Reply::Array(vec![
                Reply::Array(vec![]),
                Reply::Array(vec![Reply::Integer(7)]),
            ]),
        ])
    }

    #[test]
    fn every_type_of_resp2() {
        assert_eq!(one(b"+OK\r\n"), Reply::Simple("OK".into()));
        assert_eq!(
            one(b"-WRONGTYPE Operation\r\n"),
            Reply::Error("WRONGTYPE Operation".into())
        );
        assert_eq!(one(b":0\r\n"), Reply::Integer(0));
        assert_eq!(one(b":9223372036854775807\r\n"), Reply::Integer(i64::MAX));
        assert_eq!(one(b":-9223372036854775808\r\n"), Reply::Integer(i64::MIN));
        assert_eq!(one(b"$3\r\nfoo\r\n"), bulk("foo"));
        assert_eq!(one(b"$-1\r\n"), Reply::NullBulk);
        assert_eq!(one(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(one(b"*0\r\n"), Reply::Array(vec![]));
        assert_eq!(one(EVERY_TYPE), every_type());
    }

    #[test]
    fn pipelined_replies_come_out_one_by_one() {
        let replies = parse_all(b"+OK\r\n:1\r\n$1\r\nx\r\n", Limits::default()).unwrap();
        assert_eq!(
            replies,
            vec![Reply::Simple("OK".into()), Reply::Integer(1), bulk("x")]
        );
    }

    /// The reply cut at every byte, and fed one byte at a time: the same value each way.
    #[test]
    fn a_reply_split_at_every_byte() {
        let mut stream = EVERY_TYPE.to_vec();
        stream.extend_from_slice(b"+second\r\n");
        for cut in 0..=stream.len() {
            let mut parser = Parser::new(Limits::default());
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                parser.feed(part);
                while let Some(reply) = parser.next_reply().unwrap() {
                    got.push(reply);
                }
            }
            assert_eq!(
                got,
                vec![every_type(), Reply::Simple("second".into())],
                "cut at {cut}"
            );
        }
        let mut parser = Parser::new(Limits::default());
        let mut got = Vec::new();
        for byte in &stream {
            parser.feed(std::slice::from_ref(byte));
            while let Some(reply) = parser.next_reply().unwrap() {
                got.push(reply);
            }
        }
        assert_eq!(got, vec![every_type(), Reply::Simple("second".into())]);
        assert_eq!(parser.buffered(), 0);
    }

    #[test]
    fn incomplete_is_need_more_not_an_error() {
        for partial in [
            &b""[..],
            b"+O",
            b"+OK\r",
            b"$5\r\nhel",
            b"$5\r\nhello\r",
            b"*2\r\n:1\r\n",
            b"*1\r\n*1\r\n",
        ] {
            let mut parser = Parser::new(Limits::default());
            parser.feed(partial);
            assert!(matches!(parser.next_reply(), Ok(None)), "{partial:?}");
        }
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let small = Limits {
            max_line: 16,
            max_bulk: 10,
            max_array: 3,
            max_depth: 2,
            max_reply: 100,
        };
        assert!(refused(b"$11\r\n", small).contains("bulk string of 11"));
        assert!(
            refused(b"$99999999999999999999\r\n", Limits::default()).contains("not an integer")
        );
        assert!(refused(b"$9223372036854775807\r\n", Limits::default()).contains("over the limit"));
        assert!(refused(b"*4\r\n", small).contains("array of 4"));
        assert!(refused(b"*9223372036854775807\r\n", Limits::default()).contains("over the limit"));
        assert!(refused(b"$-2\r\n", small).contains("negative"));
        assert!(refused(b"*-5\r\n", small).contains("negative"));
        assert!(refused(b"*1\r\n*1\r\n*1\r\n:1\r\n", small).contains("deeper than 2"));
        // A status line that never ends.
        assert!(refused(b"+aaaaaaaaaaaaaaaaaaaaaaaaa", small).contains("line of"));
        // Many small items that add up: the whole reply is bounded.
        let mut many = b"*3\r\n".to_vec();
        for _ in 0..3 {
            many.extend_from_slice(b"$10\r\n0123456789\r\n");
        }
        let tight = Limits {
            max_reply: 40,
            ..small
        };
        assert!(refused(&many, tight).contains("reply of"));
    }

    #[test]
    fn malformed_bytes_are_protocol_errors() {
        let d = Limits::default();
        assert!(refused(b"!oops\r\n", d).contains("unknown type byte '!'"));
        assert!(refused(b"%1\r\n", d).contains("RESP3"));
        assert!(refused(b"\r\n", d).contains("empty line"));
        assert!(refused(b"+OK\n", d).contains("without \\r"));
        assert!(refused(b"\n", d).contains("without \\r"));
        assert!(refused(b":12a\r\n", d).contains("not an integer"));
        assert!(refused(b":+1\r\n", d).contains("not an integer"));
        assert!(refused(b":\r\n", d).contains("not an integer"));
        assert!(refused(b":-\r\n", d).contains("not an integer"));
        assert!(refused(b"$3\r\nfoobar\r\n", d).contains("not followed by"));
        assert!(refused(b"+\xff\r\n", d).contains("UTF-8"));
    }

    #[test]
    fn urls() {
        let tcp = |host: &str, port| Address::Tcp {
            host: host.into(),
            port,
        };
        let u = RedisUrl::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!((u.address.clone(), u.db), (tcp("127.0.0.1", 6380), 2));
        assert_eq!(u.to_string(), "redis://127.0.0.1:6380/2");
        assert_eq!(
            RedisUrl::parse("redis://localhost").unwrap().address,
            tcp("localhost", 6379)
        );
        assert_eq!(
            RedisUrl::parse("REDIS://[::1]:7/").unwrap().to_string(),
            "redis://[::1]:7"
        );
        let u = RedisUrl::parse("redis+unix:///run/redis/redis.sock").unwrap();
        assert_eq!(u.address, Address::Unix("/run/redis/redis.sock".into()));
        assert_eq!(u.to_string(), "redis+unix:///run/redis/redis.sock");
        let error = |s: &str| RedisUrl::parse(s).unwrap_err().0;
        assert!(error("rediss://h").contains("TLS"));
        assert!(error("redis://:pw@h").contains("password"));
        assert!(error("redis://h:0").contains("bad port"));
        assert!(error("redis://h/x").contains("bad database"));
        assert!(error("redis://").contains("empty host"));
        assert!(error("redis+unix://relative.sock").contains("absolute path"));
        assert!(error("http://h").contains("unknown scheme"));
        assert!(error("h:6379").contains("not a Redis URL"));
    }
}
