//! The sending side: messages in, frames out.
//!
//! Frames are queued in one out buffer and written with one system call, so
//! header and payload never go out as separate TCP segments, and an echo
//! server can answer a batch of pipelined messages with a single write.
//! Big server payloads skip the buffer: header and payload go out together
//! in one vectored write, without copying the payload.

use std::io::{self, IoSlice, Write};

use super::Role;
use super::error::Error;
use super::frame::{self, FrameHeader, MAX_CONTROL_PAYLOAD, Opcode, close_code};
use super::mask::{MaskKeys, apply_mask};
use super::message::{CloseFrame, Message};

/// Payloads at least this big are written without copying (server side),
/// or masked and written piece by piece (client side).
const DIRECT_WRITE_MIN: usize = 64 * 1024;
/// A client masks a big payload this much at a time: a copy that stays in
/// cache instead of a second buffer as big as the message.
const MASK_PIECE: usize = 256 * 1024;
/// After a flush, an out buffer bigger than this is given back.
const OUT_BUF_KEEP: usize = 64 * 1024;

pub(crate) struct Sender {
    role: Role,
    out: Vec<u8>,
    keys: MaskKeys,
    /// Set once our Close frame is queued (RFC 6455 §5.5.1: nothing may follow it).
    closed: Option<Option<CloseFrame>>,
}

impl Sender {
    pub(crate) fn new(role: Role) -> Self {
        Sender {
            role,
            out: Vec::new(),
            keys: MaskKeys::new(),
            closed: None,
        }
    }

    pub(crate) fn role(&self) -> Role {
        self.role
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    pub(crate) fn queued(&self) -> usize {
        self.out.len()
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.out.is_empty()
    }

    pub(crate) fn memory_usage(&self) -> usize {
        self.out.capacity()
    }

    /// RFC 6455 §5.3: a client masks with a fresh key per frame; a server never masks.
    fn mask_key(&mut self) -> Option<[u8; 4]> {
        match self.role {
            Role::Client => Some(self.keys.next_key()),
            Role::Server => None,
        }
    }

    fn closed_error(&self) -> Error {
        let frame = self.closed.clone().flatten();
        Error::Closed {
            code: frame.as_ref().map(|f| f.code),
            reason: frame.map(|f| f.reason).unwrap_or_default(),
        }
    }

    /// Queues `msg` as one frame; nothing is written until `flush`.
    pub(crate) fn queue(&mut self, msg: &Message) -> Result<(), Error> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let (opcode, payload) = frame_parts(msg)?;
        let key = self.mask_key();
        frame::encode(true, opcode, key, &payload, &mut self.out);
        if let Message::Close(frame) = msg {
            self.closed = Some(frame.clone());
        }
        Ok(())
    }

    /// Writes everything queued, in as few system calls as the kernel allows.
    pub(crate) fn flush<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.write_out(w)?;
        if self.out.capacity() > OUT_BUF_KEEP {
            self.out = Vec::new();
        }
        w.flush()
    }

    fn write_out<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        let mut written = 0;
        while written < self.out.len() {
            match w.write(&self.out[written..]) {
                Ok(0) => {
                    self.out.drain(..written);
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Keep the unwritten rest, so a retry after a timeout continues the frame.
                    self.out.drain(..written);
                    return Err(e);
                }
            }
        }
        self.out.clear();
        Ok(())
    }

    /// Queues and writes `msg` now.
    pub(crate) fn send<W: Write>(&mut self, w: &mut W, msg: &Message) -> Result<(), Error> {
        let data = match msg {
            Message::Text(text) => Some((Opcode::Text, text.as_bytes())),
            Message::Binary(bytes) => Some((Opcode::Binary, bytes.as_slice())),
            _ => None,
        };
        if let Some((opcode, payload)) = data
            && payload.len() >= DIRECT_WRITE_MIN
            && self.role == Role::Server
            && !self.is_closed()
        {
            let header = FrameHeader {
                fin: true,
                opcode,
                mask_key: None,
                payload_len: payload.len() as u64,
            };
            let (head, head_len) = header.encode();
            return self
                .write_raw(w, &[&head[..head_len], payload])
                .map_err(Error::Io);
        }
        if let Some((opcode, payload)) = data
            && payload.len() >= DIRECT_WRITE_MIN
            && !self.is_closed()
        {
            return self
                .send_masked_in_pieces(w, opcode, payload)
                .map_err(Error::Io);
        }
        self.queue(msg)?;
        self.flush(w).map_err(Error::Io)
    }

    /// A big client frame: the header, then the payload masked into the out
    /// buffer and written a piece at a time.
    fn send_masked_in_pieces<W: Write>(
        &mut self,
        w: &mut W,
        opcode: Opcode,
        payload: &[u8],
    ) -> io::Result<()> {
        let key = self.keys.next_key();
        let header = FrameHeader {
            fin: true,
            opcode,
            mask_key: Some(key),
            payload_len: payload.len() as u64,
        };
        let (head, head_len) = header.encode();
        self.out.extend_from_slice(&head[..head_len]);
        let mut offset = 0;
        for piece in payload.chunks(MASK_PIECE) {
            let start = self.out.len();
            self.out.extend_from_slice(piece);
            apply_mask(&mut self.out[start..], key, offset);
            offset += piece.len();
            if let Err(e) = self.write_out(w) {
                // Queue the rest of the frame, so that a retry completes it.
                let start = self.out.len();
                self.out.extend_from_slice(&payload[offset..]);
                apply_mask(&mut self.out[start..], key, offset);
                return Err(e);
            }
        }
        self.flush(w)
    }

    /// Writes bytes that already form whole server frames (`frame::encode`),
    /// after whatever is queued.
    pub(crate) fn send_prepared<W: Write>(
        &mut self,
        w: &mut W,
        frames: &[&[u8]],
    ) -> Result<(), Error> {
        self.check_prepared_frames(frames)?;
        self.write_raw(w, frames).map_err(Error::Io)
    }

    /// Prepared frames may go out only from an open server, and must be whole unmasked frames.
    fn check_prepared_frames(&self, frames: &[&[u8]]) -> Result<(), Error> {
        if self.is_closed() {
            return Err(self.closed_error());
        }
        if self.role == Role::Client {
            return Err(invalid_input(
                "prepared frames are unmasked: only a server may send them",
            ));
        }
        frames.iter().try_for_each(|part| check_prepared(part))
    }

    /// Writes the queue, then as many of `frames` (whole unmasked server frames) as the
    /// writer takes now; returns how many it took. The rest of a frame cut by a short write
    /// stays queued, ahead of anything sent later.
    pub(crate) fn send_prepared_now<W: Write>(
        &mut self,
        w: &mut W,
        frames: &[&[u8]],
    ) -> Result<usize, Error> {
        self.check_prepared_frames(frames)?;
        let taken = crate::wire::write_now(&mut *w, &mut self.out, frames).map_err(Error::Io)?;
        if self.out.is_empty() && self.out.capacity() > OUT_BUF_KEEP {
            self.out = Vec::new();
        }
        Ok(taken)
    }

    /// Writes the queue, then `parts`, in one vectored write when the kernel
    /// takes it all. Whatever is not written on an error stays queued.
    fn write_raw<W: Write>(&mut self, w: &mut W, parts: &[&[u8]]) -> io::Result<()> {
        let mut slices = Vec::with_capacity(parts.len() + 1);
        slices.push(IoSlice::new(&self.out));
        slices.extend(parts.iter().map(|p| IoSlice::new(p)));
        let mut bufs = &mut slices[..];
        IoSlice::advance_slices(&mut bufs, 0);
        let mut error = None;
        while !bufs.is_empty() {
            match w.write_vectored(bufs) {
                Ok(0) => {
                    error = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => IoSlice::advance_slices(&mut bufs, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        match error {
            None => {
                self.out.clear();
                if self.out.capacity() > OUT_BUF_KEEP {
                    self.out = Vec::new();
                }
                w.flush()
            }
            Some(e) => {
                let rest: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                self.out = rest;
                Err(e)
            }
        }
    }
}

fn invalid_input(msg: &'static str) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::InvalidInput, msg))
}

/// The opcode and payload bytes for one message.
fn frame_parts(msg: &Message) -> Result<(Opcode, std::borrow::Cow<'_, [u8]>), Error> {
    use std::borrow::Cow::{Borrowed, Owned};
    let control = |payload: &[u8]| {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            Err(invalid_input(
                "ping and pong payloads are at most 125 bytes",
            ))
        } else {
            Ok(())
        }
    };
    Ok(match msg {
        Message::Text(text) => (Opcode::Text, Borrowed(text.as_bytes())),
        Message::Binary(bytes) => (Opcode::Binary, Borrowed(bytes.as_slice())),
        Message::Ping(bytes) => {
            control(bytes)?;
            (Opcode::Ping, Borrowed(bytes.as_slice()))
        }
        Message::Pong(bytes) => {
            control(bytes)?;
            (Opcode::Pong, Borrowed(bytes.as_slice()))
        }
        Message::Close(None) => (Opcode::Close, Borrowed(&[][..])),
        Message::Close(Some(frame)) => {
            if !close_code::is_valid(frame.code) {
                return Err(invalid_input(
                    "close code not allowed in a Close frame (RFC 6455 §7.4)",
                ));
            }
            (Opcode::Close, Owned(frame.payload()))
        }
    })
}

/// A prepared buffer must be whole unmasked frames, or the stream would be corrupt.
fn check_prepared(mut frames: &[u8]) -> Result<(), Error> {
    let bad = || invalid_input("prepared bytes are not whole unmasked frames");
    while !frames.is_empty() {
        let Ok(Some((header, len))) = FrameHeader::parse(frames) else {
            return Err(bad());
        };
        if header.mask_key.is_some() || header.opcode == Opcode::Close {
            return Err(bad());
        }
        let end = usize::try_from(header.payload_len)
            .ok()
            .and_then(|n| n.checked_add(len))
            .filter(|&end| end <= frames.len())
            .ok_or_else(bad)?;
        frames = &frames[end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts write calls and takes everything in one go (the shared test double).
    use crate::ws::tests::MemStream as CountingWriter;

    /// Accepts a few bytes, then times out once.
    struct StallingWriter {
        bytes: Vec<u8>,
        budget: usize,
    }

    impl Write for StallingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                self.budget = usize::MAX;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            self.bytes.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_small_frame_costs_one_write_call() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Server);
        sender.send(&mut w, &Message::Text("Hello".into())).unwrap();
        assert_eq!(w.writes, 1);
        assert_eq!(w.written, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn a_big_server_frame_costs_one_write_call_for_header_and_payload() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Server);
        sender
            .send(&mut w, &Message::Binary(vec![7; 1 << 20]))
            .unwrap();
        assert_eq!(w.writes, 1);
        let (header, len) = FrameHeader::parse(&w.written).unwrap().unwrap();
        assert_eq!(header.payload_len, 1 << 20);
        assert_eq!(w.written.len(), len + (1 << 20));
    }

    #[test]
    fn a_big_client_frame_is_masked_and_written_in_pieces_with_the_header_in_the_first() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Client);
        let payload: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        sender
            .send(&mut w, &Message::Binary(payload.clone()))
            .unwrap();
        assert_eq!(w.writes, 1_000_000usize.div_ceil(MASK_PIECE));
        let (header, len) = FrameHeader::parse(&w.written).unwrap().unwrap();
        let mut got = w.written[len..].to_vec();
        apply_mask(&mut got, header.mask_key.unwrap(), 0);
        assert_eq!(got, payload);
        assert!(sender.memory_usage() <= OUT_BUF_KEEP);
    }

    #[test]
    fn queued_frames_go_out_in_one_write_call() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Server);
        for i in 0..16u8 {
            sender.queue(&Message::Binary(vec![i; 64])).unwrap();
        }
        sender.flush(&mut w).unwrap();
        assert_eq!(w.writes, 1);
        assert_eq!(w.written.len(), 16 * 66);
    }

    #[test]
    fn a_write_that_times_out_half_way_resumes_where_it_stopped() {
        for role in [Role::Server, Role::Client] {
            for (size, budget) in [(10, 3), (100_000, 3), (1_000_000, 300_000)] {
                let mut w = StallingWriter {
                    bytes: Vec::new(),
                    budget,
                };
                let mut sender = Sender::new(role);
                let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
                assert!(
                    sender
                        .send(&mut w, &Message::Binary(payload.clone()))
                        .is_err()
                );
                sender.flush(&mut w).unwrap();
                let (header, len) = FrameHeader::parse(&w.bytes).unwrap().unwrap();
                let mut got = w.bytes[len..].to_vec();
                if let Some(key) = header.mask_key {
                    apply_mask(&mut got, key, 0);
                }
                assert_eq!(got, payload, "{role:?} {size}");
            }
        }
    }

    #[test]
    fn client_frames_are_masked_with_a_fresh_key_each() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Client);
        sender.queue(&Message::Text("Hello".into())).unwrap();
        sender.queue(&Message::Text("Hello".into())).unwrap();
        sender.flush(&mut w).unwrap();
        let (first, len) = FrameHeader::parse(&w.written).unwrap().unwrap();
        let (second, _) = FrameHeader::parse(&w.written[len + 5..]).unwrap().unwrap();
        assert!(first.mask_key.is_some());
        assert_ne!(first.mask_key, second.mask_key);
        let mut payload = w.written[len..len + 5].to_vec();
        apply_mask(&mut payload, first.mask_key.unwrap(), 0);
        assert_eq!(payload, b"Hello");
    }

    #[test]
    fn nothing_is_sent_after_a_close_frame() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Server);
        let close = CloseFrame {
            code: 1000,
            reason: "bye".into(),
        };
        sender.send(&mut w, &Message::Close(Some(close))).unwrap();
        let err = sender
            .send(&mut w, &Message::Text("late".into()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Closed {
                    code: Some(1000),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(w.written, [0x88, 0x05, 0x03, 0xE8, b'b', b'y', b'e']);
    }

    #[test]
    fn oversized_pings_and_unsendable_close_codes_are_refused() {
        let mut sender = Sender::new(Role::Server);
        assert!(sender.queue(&Message::Ping(vec![0; 126])).is_err());
        let reserved = CloseFrame {
            code: 1005,
            reason: String::new(),
        };
        assert!(sender.queue(&Message::Close(Some(reserved))).is_err());
        assert!(!sender.is_closed());
    }

    #[test]
    fn prepared_bytes_must_be_whole_unmasked_frames() {
        let mut w = CountingWriter::default();
        let mut sender = Sender::new(Role::Server);
        let mut frames = Vec::new();
        frame::encode(true, Opcode::Text, None, b"hi", &mut frames);
        frame::encode(true, Opcode::Text, None, b"there", &mut frames);
        sender.send_prepared(&mut w, &[&frames]).unwrap();
        assert_eq!(w.written, frames);
        assert!(
            sender
                .send_prepared(&mut w, &[&frames[..frames.len() - 1]])
                .is_err()
        );
        let mut masked = Vec::new();
        frame::encode(true, Opcode::Text, Some([1, 2, 3, 4]), b"hi", &mut masked);
        assert!(sender.send_prepared(&mut w, &[&masked]).is_err());
        let mut client = Sender::new(Role::Client);
        assert!(client.send_prepared(&mut w, &[&frames]).is_err());
    }
}
