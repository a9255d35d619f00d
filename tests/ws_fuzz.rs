//! Fuzzing the frame parser and both roles of the WebSocket reader with
//! random and mutated frames, over in-memory streams.
//!
//! Every outcome must be a message or a typed error: no panic, no hang, no
//! buffer beyond the configured limits. Valid streams must decode exactly.
//! The seed is fixed (set PLAINSOCK_FUZZ_SEED to try another) and printed on failure.

use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use plainsock::ws::frame::{self, FrameHeader, Opcode};
use plainsock::ws::{CloseFrame, Config, Error, Message, Role, WebSocket};

const DEFAULT_SEED: u64 = 0x5EED_6455;
const CASES: usize = 25_000;
const MAX_FRAME: usize = 2048;
const MAX_MESSAGE: usize = 4096;
/// Read buffer (at most 64 KiB) and reply frames on top of the message limit.
const SLACK: usize = 64 * 1024 + 1024;

/// SplitMix64: tiny, std-only, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Up to `max - 1` random bytes.
    fn bytes_below(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max);
        self.bytes(n)
    }

    /// A random payload of a random `length()`.
    fn payload(&mut self) -> Vec<u8> {
        let n = self.length();
        self.bytes(n)
    }

    /// Mostly small lengths, sometimes around the limits and the 126/127 encodings.
    fn length(&mut self) -> usize {
        match self.below(10) {
            0 => 120 + self.below(20),
            1 => MAX_FRAME - 2 + self.below(5),
            2 => self.below(MAX_MESSAGE),
            _ => self.below(40),
        }
    }

    fn text(&mut self, max_bytes: usize) -> String {
        const CHARS: [char; 6] = ['a', 'Z', ' ', 'é', '€', '𝄞'];
        let mut s = String::new();
        while s.len() + 4 <= max_bytes && self.chance(95) {
            s.push(CHARS[self.below(CHARS.len())]);
        }
        s
    }
}

/// Bytes in, in random-sized reads, with an occasional timeout; replies out.
struct FuzzStream {
    input: Vec<u8>,
    pos: usize,
    rng: Rng,
    output: Vec<u8>,
}

impl Read for FuzzStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.rng.chance(3) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let max = if self.rng.chance(50) {
            1 + self.rng.below(16)
        } else {
            buf.len()
        };
        let n = max.min(buf.len()).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for FuzzStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The mask key a frame from the other end of `role` carries.
fn peer_mask(role: Role, rng: &mut Rng) -> Option<[u8; 4]> {
    match role {
        Role::Server => Some([
            rng.next() as u8,
            rng.next() as u8,
            rng.next() as u8,
            rng.next() as u8,
        ]),
        Role::Client => None,
    }
}

/// One random frame, valid on its own (sequence rules may still be broken).
fn random_frame(role: Role, rng: &mut Rng) -> Vec<u8> {
    let key = peer_mask(role, rng);
    let mut out = Vec::new();
    match rng.below(8) {
        0 => frame::encode(
            rng.chance(70),
            Opcode::Text,
            key,
            rng.text(MAX_FRAME).as_bytes(),
            &mut out,
        ),
        1 => frame::encode(
            rng.chance(70),
            Opcode::Binary,
            key,
            &rng.payload(),
            &mut out,
        ),
        2 => frame::encode(
            rng.chance(50),
            Opcode::Continuation,
            key,
            &rng.payload(),
            &mut out,
        ),
        3 => frame::encode(true, Opcode::Ping, key, &rng.bytes_below(126), &mut out),
        4 => frame::encode(true, Opcode::Pong, key, &rng.bytes_below(126), &mut out),
        5 => {
            let code = [1000u16, 1001, 1003, 1008, 3000, 4999, 1005, 999, 5000][rng.below(9)];
            let body = [&code.to_be_bytes()[..], rng.text(60).as_bytes()].concat();
            frame::encode(true, Opcode::Close, key, &body, &mut out)
        }
        6 => frame::encode(true, Opcode::Text, key, &rng.bytes_below(20), &mut out),
        _ => out = rng.bytes_below(30),
    }
    out
}

/// Breaks a frame the way a hostile or buggy peer might.
fn mutate(frame: &mut Vec<u8>, rng: &mut Rng) {
    match rng.below(7) {
        0 => {
            for _ in 0..1 + rng.below(3) {
                if !frame.is_empty() {
                    let i = rng.below(frame.len());
                    frame[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => frame.truncate(rng.below(frame.len() + 1)),
        2 if frame.len() >= 2 => frame[1] = (frame[1] & 0x80) | rng.below(128) as u8,
        3 if frame.len() >= 2 => {
            // A 64-bit length, anything up to 2^64 - 1.
            frame[1] = (frame[1] & 0x80) | 127;
            let len = rng.next() >> rng.below(64);
            frame.splice(2..2.min(frame.len()), len.to_be_bytes());
        }
        4 => {
            let at = rng.below(frame.len() + 1);
            let junk = rng.bytes_below(8).into_iter().chain([0]);
            frame.splice(at..at, junk);
        }
        5 if !frame.is_empty() => frame[0] = rng.next() as u8,
        _ => frame.extend(rng.bytes_below(10)),
    }
}

/// Reads until an error, checking every outcome; returns them all.
fn drive(role: Role, input: Vec<u8>, rng: &mut Rng) -> Vec<Result<Message, Error>> {
    let config = Config {
        max_frame_size: MAX_FRAME,
        max_message_size: MAX_MESSAGE,
        ..Config::default()
    };
    let stream = FuzzStream {
        input,
        pos: 0,
        rng: Rng(rng.next()),
        output: Vec::new(),
    };
    let bound = stream.input.len() * 2 + 100;
    let mut ws = WebSocket::from_parts(stream, role, Vec::new(), config);
    let mut outcomes = Vec::new();
    for _ in 0..bound {
        let outcome = ws.read();
        assert!(
            ws.memory_usage() <= MAX_MESSAGE + SLACK,
            "{} bytes held",
            ws.memory_usage()
        );
        match &outcome {
            Ok(Message::Text(t)) => assert!(t.len() <= MAX_MESSAGE && t.capacity() <= MAX_MESSAGE),
            Ok(Message::Binary(b)) => {
                assert!(b.len() <= MAX_MESSAGE && b.capacity() <= MAX_MESSAGE)
            }
            Ok(Message::Ping(p) | Message::Pong(p)) => assert!(p.len() <= 125),
            Ok(Message::Close(_)) => {}
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}"),
            Err(Error::Protocol { code, .. }) => {
                assert!([1002, 1007, 1009].contains(code), "{code}")
            }
            Err(Error::Closed { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
        let stop = outcome.is_err();
        outcomes.push(outcome);
        if stop {
            // Reading again is an error at once, not a hang.
            let again = ws.read();
            assert!(again.is_err(), "{again:?}");
            return outcomes;
        }
    }
    panic!("no end after {bound} reads");
}

/// A valid conversation: messages cut into random fragments, pings between them.
fn valid_stream(role: Role, rng: &mut Rng) -> (Vec<u8>, Vec<Message>) {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..1 + rng.below(6) {
        let (opcode, payload, message) = if rng.chance(50) {
            let text = rng.text(MAX_FRAME);
            (Opcode::Text, text.clone().into_bytes(), Message::Text(text))
        } else {
            let data = rng.payload();
            (Opcode::Binary, data.clone(), Message::Binary(data))
        };
        let mut rest = &payload[..];
        let mut first = true;
        loop {
            let take = if rest.len() <= MAX_FRAME && rng.chance(50) {
                rest.len()
            } else {
                rng.below(rest.len().min(MAX_FRAME) + 1)
            };
            let fin = take == rest.len();
            let op = if first { opcode } else { Opcode::Continuation };
            frame::encode(fin, op, peer_mask(role, rng), &rest[..take], &mut bytes);
            rest = &rest[take..];
            first = false;
            if fin {
                break;
            }
            if rng.chance(20) {
                let ping = rng.bytes_below(126);
                frame::encode(true, Opcode::Ping, peer_mask(role, rng), &ping, &mut bytes);
                expected.push(Message::Ping(ping));
            }
        }
        expected.push(message);
    }
    (bytes, expected)
}

fn seed() -> u64 {
    std::env::var("PLAINSOCK_FUZZ_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED)
}

/// Runs `case` under `catch_unwind` so a failure names the seed and case.
fn run_cases(name: &str, cases: usize, mut case: impl FnMut(&mut Rng) -> usize) -> usize {
    let seed = seed();
    let mut rng = Rng(seed);
    let mut frames = 0;
    for i in 0..cases {
        let result = catch_unwind(AssertUnwindSafe(|| case(&mut rng)));
        match result {
            Ok(n) => frames += n,
            Err(_) => panic!("{name}: case {i} failed; seed {seed:#x} (PLAINSOCK_FUZZ_SEED)"),
        }
    }
    frames
}

#[test]
fn random_and_mutated_frames_never_panic_nor_exceed_the_limits() {
    let frames = run_cases("mutated frames", CASES, |rng| {
        let role = if rng.chance(50) {
            Role::Server
        } else {
            Role::Client
        };
        let count = 1 + rng.below(8);
        let mut input = Vec::new();
        for _ in 0..count {
            let mut f = random_frame(role, rng);
            if rng.chance(30) {
                mutate(&mut f, rng);
            }
            input.extend(f);
        }
        drive(role, input, rng);
        count
    });
    assert!(frames >= 100_000, "only {frames} frames");
}

#[test]
fn valid_streams_decode_exactly_in_both_roles() {
    run_cases("valid streams", 3_000, |rng| {
        let role = if rng.chance(50) {
            Role::Server
        } else {
            Role::Client
        };
        let (input, expected) = valid_stream(role, rng);
        let outcomes = drive(role, input, rng);
        let (last, messages) = outcomes
            .split_last()
            .expect("at least the end of the stream");
        let messages: Vec<Message> = messages
            .iter()
            .filter_map(|o| o.as_ref().ok().cloned())
            .collect();
        assert_eq!(messages, expected);
        assert!(
            matches!(last, Err(Error::Closed { code: None, .. })),
            "{last:?}"
        );
        expected.len()
    });
}

#[test]
fn the_header_parser_never_panics_and_is_consistent_on_prefixes() {
    run_cases("header parser", 50_000, |rng| {
        let role = if rng.chance(50) {
            Role::Server
        } else {
            Role::Client
        };
        let mut bytes = random_frame(role, rng);
        if rng.chance(70) {
            mutate(&mut bytes, rng);
        }
        bytes.truncate(20);
        let full = FrameHeader::parse(&bytes);
        if let Ok(Some((header, len))) = full {
            assert!(len <= bytes.len() && [2, 4, 6, 8, 10, 14].contains(&len));
            assert!(header.payload_len < 1 << 63);
            // Every longer prefix parses to the same header.
            for end in len..=bytes.len() {
                assert_eq!(FrameHeader::parse(&bytes[..end]), full);
            }
        }
        1
    });
}

#[test]
fn a_close_in_a_fuzzed_stream_is_echoed_with_its_code() {
    run_cases("close echo", 2_000, |rng| {
        let code = [1000u16, 1001, 1011, 3000, 4999][rng.below(5)];
        let reason = rng.text(100);
        let body = CloseFrame {
            code,
            reason: reason.clone(),
        }
        .payload();
        let mut input = Vec::new();
        frame::encode(true, Opcode::Close, Some([1, 2, 3, 4]), &body, &mut input);
        let stream = FuzzStream {
            input,
            pos: 0,
            rng: Rng(rng.next()),
            output: Vec::new(),
        };
        let mut ws = WebSocket::from_parts(stream, Role::Server, Vec::new(), Config::default());
        let message = loop {
            match ws.read() {
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => break other,
            }
        };
        let Ok(Message::Close(Some(frame))) = message else {
            panic!("expected a Close, got {message:?}");
        };
        assert_eq!(frame.code, code);
        let out = &ws.get_ref().output;
        assert_eq!(out[0], 0x88);
        assert_eq!(out[2..4], code.to_be_bytes());
        1
    });
}
