//! What the hostile_* tests share: the witness (members who must notice nothing of an attack),
//! a raw `/ws` upgrade, and a reader for the frames the server sends back.
#![allow(dead_code)]

use crate::common::{PATIENCE, TcpChat, WsChat, eventually};
use plainsock::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A well-behaved TCP member and a well-behaved WebSocket member, joined before the attack.
/// After it, [`Witness::still_chatting`] proves the room still works for both.
pub struct Witness {
    pub tcp: TcpChat,
    pub ws: WsChat,
    /// Connection threads with only the witness in the room.
    pub threads: usize,
}

impl Witness {
    pub fn join(server: &Server) -> Witness {
        let mut tcp = TcpChat::join(server);
        let ws = WsChat::join(server);
        tcp.expect(&format!("* {} joined (2 online)", ws.nick));
        assert!(eventually(|| server.connection_threads() == 2));
        Witness {
            tcp,
            ws,
            threads: 2,
        }
    }

    /// Each witness says a fresh line and the other one reads it (notices of the attacker
    /// coming and going may come first).
    pub fn still_chatting(&mut self) {
        static ROUND: AtomicUsize = AtomicUsize::new(0);
        let n = ROUND.fetch_add(1, Ordering::Relaxed);
        self.tcp.send(&format!("tcp witness {n}"));
        self.ws
            .expect(&format!("{}: tcp witness {n}", self.tcp.nick));
        self.ws.send(&format!("ws witness {n}"));
        self.tcp
            .expect(&format!("{}: ws witness {n}", self.ws.nick));
    }

    /// The attacker's connection thread is gone: back to the witness's two.
    pub fn only_witness_threads_left(&self, server: &Server) {
        assert!(
            eventually(|| server.connection_threads() == self.threads),
            "{} connection threads, want {}",
            server.connection_threads(),
            self.threads
        );
    }
}

/// The whole answer to `request` until the server closes (the attacker's view).
pub fn answer(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    // The server may answer and close before it read everything we send: that is fine.
    let _ = stream.write_all(request);
    read_to_close(&mut stream)
}

/// Reads until the server closes; panics if it does not within `PATIENCE`.
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            // A reset after the answer (we sent more than the server read): the answer counts.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server did not close: {e}; got {:?}", lossy(&got)),
        }
    }
    lossy(&got)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

/// Connects to `/ws` with hand-written bytes and reads the 101 head: from here on the test
/// sends raw frames.
pub fn raw_upgrade(server: &Server) -> TcpStream {
    let addr = server.ws_addr().unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let request = crate::common::upgrade_request(addr, "");
    stream.write_all(request.as_bytes()).unwrap();
    // Byte by byte, so no frame after the head is swallowed.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 4096, "no end of the 101 head");
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&head)
    );
    stream
}

/// A frame as a client sends it: masked (RFC 6455 §5.3) unless `masked` is false.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut frame = vec![u8::from(fin) << 7 | opcode];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => frame.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        frame.extend_from_slice(payload);
    }
    frame
}

/// One frame from the server: (opcode, payload). Server frames are never masked.
pub fn server_frame(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    assert_eq!(head[1] & 0x80, 0, "a server frame is not masked");
    let len = match head[1] & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            stream.read_exact(&mut n)?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            stream.read_exact(&mut n)?;
            u64::from_be_bytes(n)
        }
        n => u64::from(n),
    };
    assert!(len < 1 << 20, "server frame of {len} bytes");
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload)?;
    Ok((head[0] & 0x0F, payload))
}

/// Skips the server's text frames until its Close; returns the close code, after checking the
/// server then ends the TCP connection.
pub fn close_code(stream: &mut TcpStream) -> u16 {
    for _ in 0..10_000 {
        let (opcode, payload) = server_frame(stream).expect("a Close frame before the end");
        if opcode == 0x8 {
            assert!(payload.len() >= 2, "the Close carries a code");
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let reason = &payload[2..];
            assert!(std::str::from_utf8(reason).is_ok(), "reason is UTF-8");
            let rest = read_to_close(stream);
            assert!(rest.is_empty(), "nothing after the Close: {rest:?}");
            return code;
        }
    }
    panic!("no Close frame")
}
