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
//! ```

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
}

/// Appends one frame (header, then payload, masked if `mask_key` is given) to `out`.
/// Servers send unmasked frames, clients masked ones (RFC 6455 §5.1).
pub fn encode(
    fin: bool,
    opcode: Opcode,
    mask_key: Option<[u8; 4]>,
    payload: &[u8],
    out: &mut Vec<u8>,
) {
    let first = if fin { 0x80 } else { 0 } | opcode.as_u8();
    let mask_bit = if mask_key.is_some() { 0x80 } else { 0 };
    out.reserve(14 + payload.len());
    out.push(first);
    match payload.len() {
        n if n <= 125 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask_key {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
    }
}
