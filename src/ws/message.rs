//! Messages (RFC 6455 §5.4, §5.5, §5.6) and the Close frame body (§5.5.1).

use super::error::ProtocolError;
use super::frame::{MAX_CONTROL_PAYLOAD, close_code};

/// One WebSocket message, as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// `None`: a Close frame with no body (no code, no reason).
    Close(Option<CloseFrame>),
}

/// RFC 6455 §5.5.1: the optional body of a Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

/// Room for the reason next to the 2-byte code in a 125-byte control frame.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

impl CloseFrame {
    /// Parses a Close frame's payload: empty, or a code then a UTF-8 reason.
    pub fn parse(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::new(1002, "close frame with a 1-byte body")),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code::is_valid(code) {
                    return Err(ProtocolError::new(1002, "invalid close code"));
                }
                match std::str::from_utf8(reason) {
                    Ok(reason) => Ok(Some(CloseFrame {
                        code,
                        reason: reason.to_owned(),
                    })),
                    Err(_) => Err(ProtocolError::new(1007, "close reason is not UTF-8")),
                }
            }
        }
    }

    /// The payload to send: the code, then the reason cut at a character
    /// boundary so that the frame stays within 125 bytes.
    pub fn payload(&self) -> Vec<u8> {
        let reason = truncate_to_boundary(&self.reason, MAX_CLOSE_REASON);
        let mut out = Vec::with_capacity(2 + reason.len());
        out.extend_from_slice(&self.code.to_be_bytes());
        out.extend_from_slice(reason.as_bytes());
        out
    }
}

fn truncate_to_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_close_body_is_valid() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
    }

    #[test]
    fn a_close_body_is_a_code_then_a_reason() {
        let frame = CloseFrame::parse(&[0x03, 0xE8, b'b', b'y', b'e']);
        assert_eq!(
            frame,
            Ok(Some(CloseFrame {
                code: 1000,
                reason: "bye".into()
            }))
        );
    }

    #[test]
    fn a_1_byte_close_body_fails_with_1002() {
        assert_eq!(CloseFrame::parse(&[0x03]).map_err(|e| e.code), Err(1002));
    }

    #[test]
    fn a_reason_that_is_not_utf8_fails_with_1007() {
        let body = [0x03, 0xE8, 0xFF];
        assert_eq!(CloseFrame::parse(&body).map_err(|e| e.code), Err(1007));
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let frame = CloseFrame {
            code: 1000,
            reason: "é".repeat(100),
        };
        let payload = frame.payload();
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(payload.len(), 2 + 122);
    }
}
