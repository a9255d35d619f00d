//! Socket-level tests, grouped by the RFC 6455 feature they check.
//! Each failing case checks the close code the *peer* receives.

mod closing;
mod frames;
mod limits;
mod messages;
mod split;

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::{Config, Error, Message, Role, WebSocket};

const TIMEOUT: Duration = Duration::from_secs(5);
/// The mask key of the RFC's examples; tests use it for every client frame.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Two ends of a real 127.0.0.1 connection, with timeouts on every blocking call.
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    for s in [&client, &server] {
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
    }
    (server, client)
}

/// Our server, and a raw TCP client that speaks bytes the test chooses.
fn server_and_raw_client(config: Config) -> (WebSocket<TcpStream>, TcpStream) {
    let (server, client) = tcp_pair();
    (
        WebSocket::from_parts(server, Role::Server, Vec::new(), config),
        client,
    )
}

/// Our client, and a raw TCP server.
fn client_and_raw_server(config: Config) -> (WebSocket<TcpStream>, TcpStream) {
    let (server, client) = tcp_pair();
    (
        WebSocket::from_parts(client, Role::Client, Vec::new(), config),
        server,
    )
}

/// Our server and our client, connected.
fn ws_pair() -> (WebSocket<TcpStream>, WebSocket<TcpStream>) {
    let (server, client) = tcp_pair();
    (
        WebSocket::from_parts(server, Role::Server, Vec::new(), Config::default()),
        WebSocket::from_parts(client, Role::Client, Vec::new(), Config::default()),
    )
}

/// A frame as a client sends it (masked with `KEY`). `first` is the byte with
/// FIN, RSV and opcode, so tests can build broken frames too.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, Some(KEY), payload)
}

/// A frame as a server sends it (unmasked).
fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(first, None, payload)
}

fn raw_frame(first: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    out
}

/// A Close body: the code, then the reason.
fn close_body(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

/// Reads one frame off a raw socket: (first byte, unmasked payload).
fn read_raw_frame(raw: &mut TcpStream) -> io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    raw.read_exact(&mut head)?;
    let len = match head[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            raw.read_exact(&mut ext)?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            raw.read_exact(&mut ext)?;
            u64::from_be_bytes(ext)
        }
        n => u64::from(n),
    };
    let key = if head[1] & 0x80 != 0 {
        let mut key = [0u8; 4];
        raw.read_exact(&mut key)?;
        Some(key)
    } else {
        None
    };
    let mut payload = vec![0u8; usize::try_from(len).expect("test frame fits in memory")];
    raw.read_exact(&mut payload)?;
    if let Some(key) = key {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok((head[0], payload))
}

/// Reads frames off a raw socket until a Close; returns its body.
fn read_raw_close(raw: &mut TcpStream) -> Vec<u8> {
    for _ in 0..1000 {
        let (first, payload) = read_raw_frame(raw).expect("the peer should receive a Close frame");
        if first == 0x88 {
            return payload;
        }
    }
    panic!("no Close frame among the first 1000 frames");
}

/// The close code in the Close frame the raw peer receives.
fn peer_close_code(raw: &mut TcpStream) -> Option<u16> {
    match read_raw_close(raw).as_slice() {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Does the raw peer see the end of the stream (the other side shut TCP down)?
fn peer_sees_eof(raw: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(raw.read(&mut byte), Ok(0))
}

/// Reads until an error, skipping the messages before it.
fn read_until_error(ws: &mut WebSocket<TcpStream>) -> Error {
    for _ in 0..1000 {
        if let Err(e) = ws.read() {
            return e;
        }
    }
    panic!("no error after 1000 messages");
}

/// A client sending `bytes` makes our server fail the connection with `code`:
/// the server's `read` says so, the client receives a Close with `code`, and
/// reading again returns the error at once instead of hanging.
fn assert_fails_with(bytes: &[u8], code: u16) {
    assert_fails_with_config(Config::default(), bytes, code);
}

fn assert_fails_with_config(config: Config, bytes: &[u8], code: u16) {
    let (mut server, mut raw) = server_and_raw_client(config);
    raw.write_all(bytes).expect("write");
    let err = read_until_error(&mut server);
    assert!(
        matches!(err, Error::Protocol { .. }),
        "expected a protocol error, got {err:?}"
    );
    assert_eq!(err.close_code(), Some(code), "{err}");
    assert_eq!(peer_close_code(&mut raw), Some(code));
    let again = server
        .read()
        .expect_err("reading after a failure must fail");
    assert_eq!(again.close_code(), Some(code));
}

/// A server sending `bytes` makes our client fail the connection with `code`.
fn assert_client_fails_with(bytes: &[u8], code: u16) {
    let (mut client, mut raw) = client_and_raw_server(Config::default());
    raw.write_all(bytes).expect("write");
    let err = read_until_error(&mut client);
    assert!(
        matches!(err, Error::Protocol { .. }),
        "expected a protocol error, got {err:?}"
    );
    assert_eq!(err.close_code(), Some(code), "{err}");
    assert_eq!(peer_close_code(&mut raw), Some(code));
}

/// An in-memory stream: reads come from `chunks` (an empty chunk reads as
/// `WouldBlock`, like a socket with a timeout; no chunks left is the end of
/// the stream). Counts read and write calls.
#[derive(Default)]
pub(crate) struct MemStream {
    chunks: VecDeque<Vec<u8>>,
    pub(crate) written: Vec<u8>,
    reads: usize,
    pub(crate) writes: usize,
}

impl MemStream {
    fn new(chunks: Vec<Vec<u8>>) -> Self {
        MemStream {
            chunks: chunks.into(),
            ..MemStream::default()
        }
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        let Some(chunk) = self.chunks.front_mut() else {
            return Ok(0);
        };
        if chunk.is_empty() {
            self.chunks.pop_front();
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.pop_front();
        }
        Ok(n)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes += 1;
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.writes += 1;
        let mut n = 0;
        for buf in bufs {
            self.written.extend_from_slice(buf);
            n += buf.len();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn text(s: &str) -> Message {
    Message::Text(s.to_owned())
}
