//! The receiving side: bytes from the network in, messages out.
//!
//! All state lives in the struct, never on the stack between calls, so a read
//! that times out half-way through a frame simply resumes on the next call.
//!
//! Where the bytes go:
//! * small frames: one `read()` into a small reusable buffer often brings many
//!   frames, and all of them are decoded before the next system call;
//! * big payloads: read straight into the message's own buffer (no second
//!   copy), unmasked in place and UTF-8 checked piece by piece as they arrive.
//!
//! Memory follows the bytes that actually arrived, never the length a peer
//! announces (RFC 6455 §10.4): a header promising 2^62 bytes costs nothing.

use std::io::{self, Read};

use super::error::{Error, ProtocolError};
use super::frame::{self, FrameHeader, Opcode};
use super::mask::apply_mask;
use super::message::{CloseFrame, Message};
use super::utf8::Utf8Validator;
use super::{Config, Role};

/// The smallest read buffer (`Config::read_buffer_size`): a frame header always fits.
const MIN_READ_BUF: usize = 64;
/// The read buffer doubles while reads fill it, up to this size.
const READ_BUF_MAX: usize = 64 * 1024;
/// Big payloads are read straight into the message in pieces of this size,
/// growing with what already arrived.
const CHUNK_MIN: usize = 64 * 1024;
const CHUNK_MAX: usize = 1024 * 1024;

pub(crate) struct Receiver {
    role: Role,
    max_frame_size: usize,
    max_message_size: usize,
    buf: ReadBuf,
    /// A Text or Binary message still arriving (RFC 6455 §5.4 fragmentation).
    message: Option<Partial>,
}

impl Receiver {
    pub(crate) fn new(role: Role, config: &Config, leftover: Vec<u8>) -> Self {
        Receiver {
            role,
            max_frame_size: config.max_frame_size,
            max_message_size: config.max_message_size,
            buf: ReadBuf::new(leftover, config.read_buffer_size.max(MIN_READ_BUF)),
            message: None,
        }
    }

    /// Reads until one whole message or control frame has arrived.
    /// Protocol violations come back as `Error::Protocol`; the caller sends the Close.
    /// `before_read` runs before every read of `stream` that may block (a whole
    /// `WebSocket` sends its queued frames there).
    pub(crate) fn read<R: Read>(
        &mut self,
        stream: &mut R,
        before_read: &mut impl FnMut(&mut R) -> io::Result<()>,
    ) -> Result<Message, Error> {
        loop {
            if self.in_payload() {
                if let Some(message) = self.read_payload(stream, before_read)? {
                    return Ok(message);
                }
                continue;
            }
            // The rules are checked in the order of the header's bytes, each as soon as its
            // byte is here, so the first rule broken (and the close reason) does not depend on
            // how the bytes were cut into reads: byte 0 (RSV, opcode), then the mask bit alone
            // (§5.1, before the rest of the header arrives), then the rest in `parse`.
            if let Some(&first) = self.buf.data().first() {
                frame::check_first_byte(first)?;
            }
            if let Some(&second) = self.buf.data().get(1) {
                self.check_mask(second & 0x80 != 0)?;
            }
            let Some((header, header_len)) = FrameHeader::parse(self.buf.data())? else {
                self.fill(stream, before_read)?;
                continue;
            };
            if header.opcode.is_control() {
                // At most 14 + 125 bytes (checked by the parser): wait for all of it.
                let end = header_len + header.payload_len as usize;
                let Some(bytes) = self.buf.data().get(header_len..end) else {
                    self.fill(stream, before_read)?;
                    continue;
                };
                let mut payload = bytes.to_vec();
                self.buf.consume(end);
                if let Some(key) = header.mask_key {
                    apply_mask(&mut payload, key, 0);
                }
                return control_message(header.opcode, payload);
            }
            if let Some(message) = self.start_data_frame(header, header_len)? {
                return Ok(message);
            }
        }
    }

    /// Is a whole frame already buffered, so that `read` needs no system call
    /// to decode it? (A frame that breaks the protocol counts: it fails at once.)
    pub(crate) fn has_buffered_frame(&self) -> bool {
        if let Some(frame) = self.message.as_ref().and_then(|m| m.frame) {
            return self.buf.data().len() >= frame.remaining;
        }
        match FrameHeader::parse(self.buf.data()) {
            Err(_) => true,
            Ok(None) => false,
            Ok(Some((header, len))) => (self.buf.data().len() - len) as u64 >= header.payload_len,
        }
    }

    /// Bytes of buffer this side currently holds (read buffer + message so far).
    pub(crate) fn memory_usage(&self) -> usize {
        self.buf.bytes.capacity() + self.message.as_ref().map_or(0, |m| m.data.capacity())
    }

    fn in_payload(&self) -> bool {
        self.message.as_ref().is_some_and(|m| m.frame.is_some())
    }

    /// RFC 6455 §5.1: clients mask every frame, servers never do.
    fn check_mask(&self, masked: bool) -> Result<(), ProtocolError> {
        match (self.role, masked) {
            (Role::Server, false) => Err(ProtocolError::new(1002, "unmasked frame from a client")),
            (Role::Client, true) => Err(ProtocolError::new(1002, "masked frame from a server")),
            _ => Ok(()),
        }
    }

    /// Checks a data frame's place in the message and its size, before any of
    /// its payload is buffered. Returns the message if the frame is a whole
    /// message already in the read buffer (the common small-message case).
    fn start_data_frame(
        &mut self,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<Option<Message>, ProtocolError> {
        // RFC 6455 §5.4: continuations continue an open message; text and binary start one.
        match (header.opcode, &self.message) {
            (Opcode::Continuation, None) => {
                return Err(ProtocolError::new(
                    1002,
                    "continuation frame with no message open",
                ));
            }
            (Opcode::Text | Opcode::Binary, Some(_)) => {
                return Err(ProtocolError::new(
                    1002,
                    "new message inside a fragmented one",
                ));
            }
            _ => {}
        }
        // RFC 6455 §10.4: refuse what we will not buffer, before buffering it.
        let len = usize::try_from(header.payload_len)
            .ok()
            .filter(|&len| len <= self.max_frame_size)
            .ok_or(ProtocolError::new(1009, "frame too big"))?;
        let so_far = self.message.as_ref().map_or(0, |m| m.filled);
        if len > self.max_message_size.saturating_sub(so_far) {
            return Err(ProtocolError::new(1009, "message too big"));
        }
        let frame = DataFrame {
            fin: header.fin,
            mask_key: header.mask_key,
            remaining: len,
            offset: 0,
        };
        match &mut self.message {
            Some(partial) => partial.frame = Some(frame),
            None => {
                // Fast path: a whole single-frame message is buffered already.
                if header.fin
                    && let Some(bytes) = self.buf.data().get(header_len..header_len + len)
                {
                    let mut payload = bytes.to_vec();
                    self.buf.consume(header_len + len);
                    if let Some(key) = header.mask_key {
                        apply_mask(&mut payload, key, 0);
                    }
                    return data_message(header.opcode, payload).map(Some);
                }
                self.message = Some(Partial::new(header.opcode, frame));
            }
        }
        self.buf.consume(header_len);
        Ok(None)
    }

    /// Moves payload bytes of the current data frame into the message, from
    /// the read buffer or straight from the stream. Returns the message once
    /// its final frame is complete.
    fn read_payload<R: Read>(
        &mut self,
        stream: &mut R,
        before_read: &mut impl FnMut(&mut R) -> io::Result<()>,
    ) -> Result<Option<Message>, Error> {
        let Receiver { buf, message, .. } = self;
        let Some(partial) = message.as_mut() else {
            return Ok(None);
        };
        let Some(mut frame) = partial.frame else {
            return Ok(None);
        };
        if frame.remaining > 0 {
            let buffered = buf.data();
            if !buffered.is_empty() {
                let take = frame.remaining.min(buffered.len());
                partial.append(&buffered[..take]);
                buf.consume(take);
                partial.accept(take, &mut frame)?;
            } else if frame.remaining >= buf.bytes.len() {
                // Big payload: no detour through the read buffer.
                before_read(stream).map_err(Error::Io)?;
                let (got, error) = partial.read_direct(stream, frame.remaining);
                partial.accept(got, &mut frame)?;
                partial.frame = Some(frame);
                match error {
                    Some(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Some(e) => return Err(Error::Io(e)),
                    None if got == 0 => return Err(eof_mid_frame()),
                    None => {}
                }
            } else {
                // Small rest: read into the buffer, maybe with the frames after it.
                self.fill(stream, before_read)?;
                return Ok(None);
            }
            if let Some(partial) = self.message.as_mut() {
                partial.frame = Some(frame);
            }
        }
        if frame.remaining > 0 {
            return Ok(None);
        }
        // This frame is complete.
        if !frame.fin {
            if let Some(partial) = self.message.as_mut() {
                partial.frame = None;
            }
            return Ok(None);
        }
        match self.message.take() {
            Some(partial) => partial.finish().map(Some).map_err(Error::from),
            None => Ok(None),
        }
    }

    /// One `read()` into the read buffer. End of stream is an error: between
    /// frames it means the peer vanished without a Close frame (§7.1.5: 1006).
    fn fill<R: Read>(
        &mut self,
        stream: &mut R,
        before_read: &mut impl FnMut(&mut R) -> io::Result<()>,
    ) -> Result<(), Error> {
        before_read(stream).map_err(Error::Io)?;
        match self.buf.fill(stream) {
            Ok(0) if self.buf.data().is_empty() && self.message.is_none() => Err(Error::Closed {
                code: None,
                reason: "connection closed without a close frame".into(),
            }),
            Ok(0) => Err(eof_mid_frame()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(Error::Io(e)),
        }
    }
}

fn eof_mid_frame() -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed in the middle of a WebSocket message",
    ))
}

fn control_message(opcode: Opcode, payload: Vec<u8>) -> Result<Message, Error> {
    match opcode {
        Opcode::Ping => Ok(Message::Ping(payload)),
        Opcode::Pong => Ok(Message::Pong(payload)),
        _ => Ok(Message::Close(CloseFrame::parse(&payload)?)),
    }
}

fn data_message(opcode: Opcode, payload: Vec<u8>) -> Result<Message, ProtocolError> {
    match opcode {
        Opcode::Text => String::from_utf8(payload)
            .map(Message::Text)
            .map_err(|_| invalid_utf8()),
        _ => Ok(Message::Binary(payload)),
    }
}

fn invalid_utf8() -> ProtocolError {
    ProtocolError::new(1007, "text message is not UTF-8")
}

/// The data frame whose payload is arriving.
#[derive(Clone, Copy, Debug)]
struct DataFrame {
    fin: bool,
    mask_key: Option<[u8; 4]>,
    /// Payload bytes not yet received.
    remaining: usize,
    /// Payload bytes already received: where the mask key stands.
    offset: usize,
}

/// A message still arriving.
struct Partial {
    opcode: Opcode,
    /// `data[..filled]` is the payload so far; `data[filled..]` is zeroed room
    /// for the next read (zeroed once, reused until filled).
    data: Vec<u8>,
    filled: usize,
    utf8: Option<Utf8Validator>,
    frame: Option<DataFrame>,
}

impl Partial {
    fn new(opcode: Opcode, frame: DataFrame) -> Self {
        Partial {
            opcode,
            data: Vec::new(),
            filled: 0,
            utf8: (opcode == Opcode::Text).then(Utf8Validator::new),
            frame: Some(frame),
        }
    }

    /// Grows capacity for `extra` more bytes: doubling, but never past the end
    /// of the current frame, so capacity tracks what a peer actually sent.
    fn make_room(&mut self, extra: usize, frame_remaining: usize) {
        let want = self.filled + extra;
        if self.data.capacity() < want {
            let frame_end = self.filled + frame_remaining;
            let target = self
                .data
                .capacity()
                .saturating_mul(2)
                .max(want)
                .min(frame_end);
            self.data
                .reserve_exact(target.saturating_sub(self.data.len()));
        }
    }

    /// Copies bytes that came through the read buffer.
    fn append(&mut self, bytes: &[u8]) {
        let remaining = self.frame.map_or(bytes.len(), |f| f.remaining);
        self.make_room(bytes.len(), remaining);
        self.data.truncate(self.filled);
        self.data.extend_from_slice(bytes);
    }

    /// Reads up to `remaining` payload bytes straight into the message.
    /// Returns how many arrived (to `accept`), and the error that stopped the
    /// reading, if any: bytes that arrived before an error still count.
    fn read_direct<R: Read>(
        &mut self,
        stream: &mut R,
        remaining: usize,
    ) -> (usize, Option<io::Error>) {
        let chunk = remaining.min(self.filled.clamp(CHUNK_MIN, CHUNK_MAX));
        self.make_room(chunk, remaining);
        if self.utf8.is_none() {
            // Binary: nothing to check early, so let std fill the spare
            // capacity (no zeroing first) until the chunk is complete.
            self.data.truncate(self.filled);
            let result = stream.take(chunk as u64).read_to_end(&mut self.data);
            return (self.data.len() - self.filled, result.err());
        }
        // Text: return after every read() so that each piece is checked as it arrives.
        let end = self.filled + chunk;
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        match stream.read(&mut self.data[self.filled..end]) {
            Ok(got) => (got, None),
            Err(e) => (0, Some(e)),
        }
    }

    /// Takes in the `got` bytes just placed after `filled`: unmask, check UTF-8.
    fn accept(&mut self, got: usize, frame: &mut DataFrame) -> Result<(), ProtocolError> {
        let new = &mut self.data[self.filled..self.filled + got];
        if let Some(key) = frame.mask_key {
            apply_mask(new, key, frame.offset);
        }
        if let Some(utf8) = &mut self.utf8 {
            utf8.feed(new).map_err(|_| invalid_utf8())?;
        }
        self.filled += got;
        frame.offset += got;
        frame.remaining -= got;
        Ok(())
    }

    fn finish(mut self) -> Result<Message, ProtocolError> {
        self.data.truncate(self.filled);
        if let Some(utf8) = &self.utf8 {
            utf8.finish().map_err(|_| invalid_utf8())?;
        }
        data_message(self.opcode, self.data)
    }
}

/// Bytes read from the network but not decoded yet: `bytes[start..end]`.
struct ReadBuf {
    /// The size it starts with and shrinks back to.
    initial: usize,
    /// Zero-initialised once; its length is the room we read into.
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    /// Size of the last read, to decide when to shrink.
    last_read: usize,
    /// Did the last read fill all the room? Then more is probably waiting.
    last_read_filled: bool,
}

impl ReadBuf {
    fn new(leftover: Vec<u8>, initial: usize) -> Self {
        let end = leftover.len();
        let mut bytes = leftover;
        if bytes.len() < initial {
            bytes.resize(initial, 0);
        }
        ReadBuf {
            initial,
            bytes,
            start: 0,
            end,
            last_read: 0,
            last_read_filled: false,
        }
    }

    fn data(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn fill<R: Read>(&mut self, stream: &mut R) -> io::Result<usize> {
        let room = self.bytes.len();
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if room > self.initial && self.last_read < room / 4 {
                // Traffic calmed down: give the memory back.
                self.bytes = vec![0; self.initial];
            }
        } else if self.start > 0 {
            // What is left is a cut-off header or control frame: a few bytes.
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let room_left = self.bytes.len() - self.end;
        if room_left == 0 || self.last_read_filled && self.bytes.len() < READ_BUF_MAX {
            // More is probably waiting (and, defensively: never read into no room).
            let grown = (self.bytes.len() * 2)
                .min(READ_BUF_MAX)
                .max(self.end + self.initial);
            self.bytes.resize(grown, 0);
        }
        let n = stream.read(&mut self.bytes[self.end..])?;
        self.end += n;
        self.last_read = n;
        self.last_read_filled = self.end == self.bytes.len();
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes `step` at a time, like a network that cuts them anywhere.
    struct Chunks<'a>(&'a [u8], usize);

    impl Read for Chunks<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The close code and reason the receiver fails with, reading `bytes` `step` at a time.
    fn failure(role: Role, bytes: &[u8], step: usize) -> (u16, &'static str) {
        let mut receiver = Receiver::new(role, &Config::default(), Vec::new());
        match receiver.read(&mut Chunks(bytes, step), &mut |_| Ok(())) {
            Err(Error::Protocol { code, reason }) => (code, reason),
            other => panic!("{bytes:x?} in steps of {step}: {other:?}"),
        }
    }

    #[test]
    fn the_first_rule_broken_is_the_same_however_the_bytes_are_cut() {
        let rows: [(Role, &[u8], &str); 7] = [
            // RSV1 on an unmasked client frame: byte 0 decides before the mask bit.
            (Role::Server, &[0xC1, 0x00], "reserved bit"),
            (Role::Server, &[0x83, 0x80, 1, 2, 3, 4], "reserved opcode"),
            (
                Role::Server,
                &[0x09, 0x80, 1, 2, 3, 4],
                "fragmented control",
            ),
            // An unmasked Ping announcing 126 bytes: the mask bit comes first in byte 1.
            (Role::Server, &[0x89, 0x7E, 0x00, 0x7E], "unmasked"),
            (
                Role::Server,
                &[0x89, 0xFE, 0x00, 0x7E],
                "control frame over 125",
            ),
            (
                Role::Client,
                &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
                "masked",
            ),
            (
                Role::Client,
                &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0],
                "top bit",
            ),
        ];
        for (role, bytes, says) in rows {
            let whole = failure(role, bytes, bytes.len());
            assert!(whole.1.contains(says), "{bytes:x?}: {whole:?}");
            assert_eq!(whole.0, 1002);
            for step in 1..bytes.len() {
                assert_eq!(failure(role, bytes, step), whole, "{bytes:x?} step {step}");
            }
        }
    }
}
