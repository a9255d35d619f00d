//! TEMPORARY until ws-core merges: a minimal stand-in for the WebSocket types of the
//! contract, so the handshake branch compiles on its own. Drop this file (and its two
//! lines in ws/mod.rs) at merge time.
#![allow(dead_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

// TEMPORARY until ws-core merges
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

// TEMPORARY until ws-core merges
#[derive(Clone, Debug)]
pub struct Config {
    pub max_frame_size: usize,
    pub max_message_size: usize,
    pub max_head_size: usize,
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_head_size: 8 << 10,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

// TEMPORARY until ws-core merges
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

// TEMPORARY until ws-core merges
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseFrame>),
}

// TEMPORARY until ws-core merges
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Protocol { code: u16, reason: &'static str },
    Closed { code: Option<u16>, reason: String },
    Handshake { status: u16, reason: String },
    Url(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol { code, reason } => write!(f, "protocol error {code}: {reason}"),
            Error::Closed { code, reason } => write!(f, "closed ({code:?}): {reason}"),
            Error::Handshake { status, reason } => {
                write!(f, "handshake refused: {status} {reason}")
            }
            Error::Url(msg) => write!(f, "bad URL: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

fn not_yet() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::Unsupported,
        "stub: ws-core not merged",
    ))
}

// TEMPORARY until ws-core merges
pub struct WebSocket<S> {
    stream: S,
    role: Role,
    leftover: Vec<u8>,
    config: Config,
}

impl<S: Read + Write> WebSocket<S> {
    pub fn from_parts(stream: S, role: Role, leftover: Vec<u8>, config: Config) -> Self {
        WebSocket {
            stream,
            role,
            leftover,
            config,
        }
    }
    pub fn read(&mut self) -> Result<Message, Error> {
        Err(not_yet())
    }
    pub fn send(&mut self, _msg: Message) -> Result<(), Error> {
        Err(not_yet())
    }
    pub fn close(&mut self, _code: u16, _reason: &str) -> Result<(), Error> {
        Err(not_yet())
    }
    pub fn get_ref(&self) -> &S {
        &self.stream
    }
}

impl WebSocket<TcpStream> {
    pub fn split(self) -> (WsReader, WsWriter) {
        (WsReader, WsWriter)
    }
}

// TEMPORARY until ws-core merges
pub struct WsReader;
impl WsReader {
    pub fn read(&mut self) -> Result<Message, Error> {
        Err(not_yet())
    }
}

// TEMPORARY until ws-core merges
#[derive(Clone)]
pub struct WsWriter;
impl WsWriter {
    pub fn send(&self, _msg: Message) -> Result<(), Error> {
        Err(not_yet())
    }
    pub fn close(&self, _code: u16, _reason: &str) -> Result<(), Error> {
        Err(not_yet())
    }
    pub fn shutdown(&self) {}
}
