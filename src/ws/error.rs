//! What can go wrong on a WebSocket, as typed errors.

use std::{fmt, io};

/// A rule of RFC 6455 the peer broke: we fail the connection (§7.1.7) by
/// sending a Close frame with `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: u16,
    pub reason: &'static str,
}

impl ProtocolError {
    pub const fn new(code: u16, reason: &'static str) -> Self {
        ProtocolError { code, reason }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code)
    }
}

impl std::error::Error for ProtocolError {}

#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    /// We failed the connection and sent Close with `code`: 1002 for a broken rule, 1007 for
    /// text that is not UTF-8, 1009 for a frame or message over the configured limit (§7.4.1).
    Protocol {
        code: u16,
        reason: &'static str,
    },
    /// The close handshake happened, or the connection is gone.
    /// `code` is the peer's close code (`None`: no close frame or an empty one).
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// HTTP-level refusal during the opening handshake (either side).
    Handshake {
        status: u16,
        reason: String,
    },
    /// A bad ws:// URL; wss:// is not supported.
    Url(String),
}

impl Error {
    /// The close code behind this error, if any: the one we sent when we
    /// failed the connection, or the peer's when it closed.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            Error::Protocol { code, .. } => Some(*code),
            Error::Closed { code, .. } => *code,
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol { code, reason } => {
                write!(
                    f,
                    "peer broke the WebSocket protocol: {reason} (we closed with {code})"
                )
            }
            Error::Closed {
                code: Some(code),
                reason,
            } if reason.is_empty() => {
                write!(f, "WebSocket closed with code {code}")
            }
            Error::Closed {
                code: Some(code),
                reason,
            } => {
                write!(f, "WebSocket closed with code {code}: {reason}")
            }
            Error::Closed { code: None, reason } if reason.is_empty() => {
                write!(f, "WebSocket closed")
            }
            Error::Closed { code: None, reason } => write!(f, "WebSocket closed: {reason}"),
            Error::Handshake { status, reason } => {
                write!(f, "WebSocket handshake refused: {status} {reason}")
            }
            Error::Url(msg) => write!(f, "bad WebSocket URL: {msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol {
            code: e.code,
            reason: e.reason,
        }
    }
}
