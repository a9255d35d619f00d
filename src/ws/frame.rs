//! RFC 6455 §5.2: the base framing protocol.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! Everything here works on byte slices, so the RFC's examples are unit tests
//! with no network:
//!
//! ```
//! use plainsock::ws::frame::{FrameHeader, Opcode, encode};
//!
//! // RFC 6455 §5.7: a single-frame unmasked text message.
//! let mut wire = Vec::new();
//! encode(true, Opcode::Text, None, b"Hello", &mut wire);
//! assert_eq!(wire, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
//!
//! // Parsing it back: the header, and where the payload starts.
//! let (header, len) = FrameHeader::parse(&wire)?.expect("a whole header");
//! assert_eq!((header.fin, header.opcode, header.payload_len, len), (true, Opcode::Text, 5, 2));
//! // One byte is not a header yet: wait for more.
//! assert_eq!(FrameHeader::parse(&wire[..1])?, None);
//! // A reserved bit breaks the protocol: close code 1002.
//! assert_eq!(FrameHeader::parse(&[0xC1]).map(|_| ()).unwrap_err().code, 1002);
//! # Ok::<(), plainsock::ws::ProtocolError>(())
//! ```

use super::error::ProtocolError;
use super::mask::apply_mask;

/// The longest header: 2 octets, 8 of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// RFC 6455 §5.5: control frames carry at most 125 octets.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// RFC 6455 §5.2 / §11.8: what a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// `None` for the reserved opcodes 0x3-0x7 and 0xB-0xF.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        match value {
            0x0 => Some(Opcode::Continuation),
            0x1 => Some(Opcode::Text),
            0x2 => Some(Opcode::Binary),
            0x8 => Some(Opcode::Close),
            0x9 => Some(Opcode::Ping),
            0xA => Some(Opcode::Pong),
            _ => None,
        }
    }

    /// RFC 6455 §5.5: opcodes with the high bit set are control frames.
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// RFC 6455 §7.4.1: the close codes this crate sends.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const INTERNAL_ERROR: u16 = 1011;

    /// RFC 6455 §7.4: may a Close frame carry this code?
    /// 1004-1006 and 1015 are reserved ("MUST NOT be set ... by an endpoint"),
    /// 1016-2999 belong to future RFCs, 3000-4999 to libraries and applications.
    pub fn is_valid(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The rules the first header byte alone decides (RFC 6455 §5.2, §5.5): no RSV bit (we negotiate
/// no extension), no reserved opcode, no fragmented control frame. Returns the opcode.
pub fn check_first_byte(first: u8) -> Result<Opcode, ProtocolError> {
    if first & 0x70 != 0 {
        return Err(ProtocolError::new(
            1002,
            "reserved bit set without an extension",
        ));
    }
    let Some(opcode) = Opcode::from_u8(first & 0x0F) else {
        return Err(ProtocolError::new(1002, "reserved opcode"));
    };
    if opcode.is_control() && first & 0x80 == 0 {
        return Err(ProtocolError::new(1002, "fragmented control frame"));
    }
    Ok(opcode)
}

/// One parsed frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask_key: Option<[u8; 4]>,
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `bytes`.
    ///
    /// `Ok(None)`: not enough bytes yet. `Ok(Some((header, header_len)))`: the
    /// payload starts at `bytes[header_len]`. `Err`: the frame breaks RFC 6455
    /// (we negotiate no extension), detected as early as the bytes allow.
    ///
    /// Non-minimal length encodings (e.g. 5 written as 126, 0x0005) are
    /// accepted: §5.2 says a sender MUST use the minimal form, but rejecting
    /// them protects nothing and Autobahn-style suites accept them.
    /// The mask bit is checked by the caller, who knows its role (§5.1): after
    /// [`check_first_byte`] and before calling this, to keep the order of the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        // Every rule is checked as soon as the byte it needs has arrived, in the order of the
        // bytes, so the first rule broken is the same however the header is cut into reads.
        let Some(&first) = bytes.first() else {
            return Ok(None);
        };
        let opcode = check_first_byte(first)?;
        let fin = first & 0x80 != 0;
        let Some(&second) = bytes.get(1) else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        // 126 and 127 announce an extended length, so more than 125 bytes.
        if opcode.is_control() && second & 0x7F > MAX_CONTROL_PAYLOAD as u8 {
            return Err(ProtocolError::new(1002, "control frame over 125 bytes"));
        }
        if second & 0x7F == 127 && bytes.get(2).is_some_and(|b| b & 0x80 != 0) {
            return Err(ProtocolError::new(
                1002,
                "payload length with its top bit set",
            ));
        }
        let (payload_len, mut len) = match second & 0x7F {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match bytes.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                Some(be) => (u64::from_be_bytes(be), 10),
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let mask_key = if masked {
            match bytes
                .get(len..len + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
            {
                Some(key) => {
                    len += 4;
                    Some(key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            opcode,
            mask_key,
            payload_len,
        };
        Ok(Some((header, len)))
    }

    /// Writes this header in its minimal form; returns the bytes and how many are used.
    pub fn encode(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut out = [0u8; MAX_HEADER_LEN];
        out[0] = if self.fin { 0x80 } else { 0 } | self.opcode.as_u8();
        let mask_bit = if self.mask_key.is_some() { 0x80 } else { 0 };
        let mut len = 2;
        match self.payload_len {
            n if n <= 125 => out[1] = mask_bit | n as u8,
            n if n <= 0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                len = 4;
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                len = 10;
            }
        }
        if let Some(key) = self.mask_key {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        (out, len)
    }
}

/// Appends one frame (header, then payload, masked if `mask_key` is given) to `out`.
/// Servers send unmasked frames, clients masked ones (RFC 6455 §5.1).
/// A frame encoded once can be sent to many server-side peers (`WsWriter::send_prepared`).
pub fn encode(
    fin: bool,
    opcode: Opcode,
    mask_key: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let header = FrameHeader {
        fin,
        opcode,
        mask_key,
        payload_len: payload.len() as u64,
    };
    let (bytes, len) = header.encode();
    out.reserve(len + payload.len());
    out.extend_from_slice(&bytes[..len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask_key {
        apply_mask(&mut out[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (FrameHeader, usize) {
        match FrameHeader::parse(bytes) {
            Ok(Some(parsed)) => parsed,
            other => panic!("expected a header in {bytes:x?}, got {other:?}"),
        }
    }

    fn parse_err(bytes: &[u8]) -> u16 {
        match FrameHeader::parse(bytes) {
            Err(e) => e.code,
            other => panic!("expected an error for {bytes:x?}, got {other:?}"),
        }
    }

    /// Parses one whole frame and returns its header and unmasked payload.
    fn frame(bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
        let (header, len) = parse(bytes);
        let mut payload = bytes[len..].to_vec();
        assert_eq!(payload.len() as u64, header.payload_len);
        if let Some(key) = header.mask_key {
            apply_mask(&mut payload, key, 0);
        }
        (header, payload)
    }

    // RFC 6455 §5.7 examples.

    #[test]
    fn a_single_frame_unmasked_text_message() {
        let (h, payload) = frame(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert!(h.fin);
        assert_eq!(h.opcode, Opcode::Text);
        assert_eq!(h.mask_key, None);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn a_single_frame_masked_text_message() {
        let bytes = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (h, payload) = frame(&bytes);
        assert!(h.fin);
        assert_eq!(h.opcode, Opcode::Text);
        assert_eq!(h.mask_key, Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn a_fragmented_unmasked_text_message() {
        let (first, hel) = frame(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        let (last, lo) = frame(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(!first.fin);
        assert_eq!(first.opcode, Opcode::Text);
        assert!(last.fin);
        assert_eq!(last.opcode, Opcode::Continuation);
        assert_eq!([hel, lo].concat(), b"Hello");
    }

    #[test]
    fn unmasked_ping_and_masked_pong() {
        let (ping, body) = frame(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(ping.opcode, Opcode::Ping);
        assert_eq!(body, b"Hello");
        let bytes = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (pong, body) = frame(&bytes);
        assert_eq!(pong.opcode, Opcode::Pong);
        assert_eq!(body, b"Hello");
    }

    #[test]
    fn binary_256_bytes_uses_the_16_bit_length() {
        let (h, len) = parse(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((h.opcode, h.payload_len, len), (Opcode::Binary, 256, 4));
    }

    #[test]
    fn binary_64_kib_uses_the_64_bit_length() {
        let (h, len) = parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0]);
        assert_eq!((h.opcode, h.payload_len, len), (Opcode::Binary, 65536, 10));
    }

    #[test]
    fn encode_writes_the_rfc_examples_byte_for_byte() {
        let mut out = Vec::new();
        encode(true, Opcode::Text, None, b"Hello", &mut out);
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        encode(
            true,
            Opcode::Text,
            Some([0x37, 0xfa, 0x21, 0x3d]),
            b"Hello",
            &mut out,
        );
        assert_eq!(
            out,
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        out.clear();
        encode(true, Opcode::Binary, None, &[0; 256], &mut out);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        out.clear();
        encode(true, Opcode::Binary, None, &[0; 65536], &mut out);
        assert_eq!(out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0]);
        assert_eq!(out.len(), 10 + 65536);
    }

    #[test]
    fn a_header_cut_short_asks_for_more_bytes() {
        let whole = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0, 0, 1, 2, 3, 4];
        for cut in 0..whole.len() {
            assert_eq!(FrameHeader::parse(&whole[..cut]), Ok(None), "cut {cut}");
        }
        assert_eq!(parse(&whole).1, 14);
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        assert_eq!(parse(&[0x81, 0x7E, 0x00, 0x05]).0.payload_len, 5);
        assert_eq!(
            parse(&[0x81, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5]).0.payload_len,
            5
        );
    }

    #[test]
    fn any_rsv_bit_fails_with_1002_at_the_first_byte() {
        for rsv in [0x40, 0x20, 0x10] {
            assert_eq!(parse_err(&[0x81 | rsv]), 1002);
        }
    }

    #[test]
    fn reserved_opcodes_fail_with_1002() {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                parse_err(&[0x80 | opcode, 0x00]),
                1002,
                "opcode {opcode:#x}"
            );
        }
    }

    #[test]
    fn a_64_bit_length_with_its_top_bit_set_fails_with_1002() {
        assert_eq!(parse_err(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]), 1002);
        // 2^63 - 1 is a legal header (the limits refuse it later).
        assert_eq!(
            parse(&[0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
                .0
                .payload_len,
            u64::MAX >> 1
        );
    }

    #[test]
    fn control_frames_over_125_bytes_fail_with_1002() {
        assert_eq!(parse_err(&[0x89, 0x7E, 0x00, 0x7E]), 1002);
        assert_eq!(parse_err(&[0x88, 0x7E, 0x00, 0x7E]), 1002);
        assert_eq!(parse(&[0x89, 0x7D]).0.payload_len, 125);
    }

    #[test]
    fn fragmented_control_frames_fail_with_1002() {
        for opcode in [0x8, 0x9, 0xA] {
            assert_eq!(parse_err(&[opcode]), 1002);
        }
    }

    #[test]
    fn close_codes_follow_section_7_4() {
        for valid in [1000, 1001, 1002, 1003, 1007, 1010, 1014, 3000, 4000, 4999] {
            assert!(close_code::is_valid(valid), "{valid}");
        }
        for invalid in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert!(!close_code::is_valid(invalid), "{invalid}");
        }
    }
}
