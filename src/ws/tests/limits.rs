//! RFC 6455 §10.4: size limits, enforced before the bytes are buffered.

use std::io::Write;

use super::*;

fn small_limits() -> Config {
    Config {
        max_frame_size: 1024,
        max_message_size: 2048,
        ..Config::default()
    }
}

/// A masked header announcing `len` payload bytes, with no payload.
fn binary_header(len: u64) -> Vec<u8> {
    let mut bytes = vec![0x82, 0xFF];
    bytes.extend_from_slice(&len.to_be_bytes());
    bytes.extend_from_slice(&KEY);
    bytes
}

#[test]
fn a_frame_over_max_frame_size_fails_with_1009() {
    assert_fails_with_config(small_limits(), &client_frame(0x82, &[0; 1025]), 1009);
}

#[test]
fn a_frame_of_exactly_max_frame_size_is_accepted() {
    let (mut server, mut raw) = server_and_raw_client(small_limits());
    raw.write_all(&client_frame(0x82, &[7; 1024])).unwrap();
    assert_eq!(server.read().unwrap(), Message::Binary(vec![7; 1024]));
}

#[test]
fn a_message_over_max_message_size_fails_with_1009_at_the_frame_that_crosses_it() {
    // Two fragments fill the 2048 bytes; the third one's one byte is too many.
    let bytes = [
        client_frame(0x02, &[0; 1024]),
        client_frame(0x00, &[0; 1024]),
        client_frame(0x80, &[0; 1]),
    ]
    .concat();
    assert_fails_with_config(small_limits(), &bytes, 1009);
}

#[test]
fn an_announced_length_of_2_to_the_62_fails_with_1009_and_allocates_nothing() {
    let chunks = vec![binary_header(1 << 62)];
    let mut server = WebSocket::from_parts(
        MemStream::new(chunks),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    let err = server.read().unwrap_err();
    assert_eq!(err.close_code(), Some(1009));
    assert!(
        server.memory_usage() <= 8 * 1024,
        "{} bytes",
        server.memory_usage()
    );
    // The peer got the Close with 1009.
    let written = &server.get_ref().written;
    assert_eq!(written[0], 0x88);
    assert_eq!(written[2..4], 1009u16.to_be_bytes());
}

#[test]
fn a_peer_announcing_16_mib_and_trickling_pins_only_what_it_sent() {
    let sent = 100 * 1024;
    let mut chunks = vec![binary_header(16 << 20)];
    chunks.extend((0..sent / 1000).map(|_| vec![0u8; 1000]));
    chunks.push(Vec::new()); // then the peer goes quiet: the read times out
    let mut server = WebSocket::from_parts(
        MemStream::new(chunks),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    let err = server.read().unwrap_err();
    assert!(
        matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock),
        "{err:?}"
    );
    let used = server.memory_usage();
    assert!(
        used < 512 * 1024,
        "{used} bytes held for {sent} bytes received"
    );
}

#[test]
fn an_idle_connection_holds_a_few_kib() {
    let (server, _raw) = server_and_raw_client(Config::default());
    assert!(
        server.memory_usage() <= 8 * 1024,
        "{} bytes",
        server.memory_usage()
    );
}

#[test]
fn the_read_buffer_grows_under_load_and_shrinks_back_when_traffic_calms() {
    // A burst of 1000-byte frames that fills every read, then one small frame.
    let burst: Vec<u8> = (0..300)
        .flat_map(|_| client_frame(0x82, &[1; 1000]))
        .collect();
    let chunks = vec![burst, client_frame(0x82, b"small"), Vec::new()];
    let mut server = WebSocket::from_parts(
        MemStream::new(chunks),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    let mut peak = 0;
    for _ in 0..300 {
        assert_eq!(server.read().unwrap(), Message::Binary(vec![1; 1000]));
        peak = peak.max(server.memory_usage());
    }
    assert!(peak > 8 * 1024, "the buffer should have grown, peak {peak}");
    assert_eq!(server.read().unwrap(), Message::Binary(b"small".to_vec()));
    assert!(server.read().is_err()); // WouldBlock, after shrinking
    assert!(
        server.memory_usage() <= 8 * 1024,
        "{} bytes",
        server.memory_usage()
    );
}

#[test]
fn the_message_buffer_grows_with_the_bytes_that_arrive() {
    // A 4 MiB frame arriving in 4 KiB pieces: capacity never runs far ahead.
    let payload = vec![0u8; 4 << 20];
    let frame = client_frame(0x82, &payload);
    let chunks: Vec<Vec<u8>> = frame.chunks(4096).map(<[u8]>::to_vec).collect();
    let mut server = WebSocket::from_parts(
        MemStream::new(chunks),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    assert_eq!(server.read().unwrap(), Message::Binary(payload));
    let mut partial = WebSocket::from_parts(
        MemStream::new(vec![frame[..1 << 20].to_vec(), Vec::new()]),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    assert!(partial.read().is_err());
    let used = partial.memory_usage();
    // Doubling as bytes arrive: at most about twice what was received.
    assert!(
        used <= (2 << 20) + (256 << 10),
        "{used} bytes held for 1 MiB received"
    );
}

#[test]
fn after_1009_the_server_reads_on_so_a_peer_still_sending_reads_the_close_code() {
    // A client announces a message over the limit and goes on writing its payload, as Node's
    // `ws` does with 16 MiB + 1. Closing with its bytes unread would reset the connection,
    // and the reset can destroy our Close before the client reads it (it reports 1006).
    let (mut server, mut raw) = server_and_raw_client(small_limits());
    const PAYLOAD: usize = 512 * 1024;
    let mut sending = raw.try_clone().unwrap();
    let writer = std::thread::spawn(move || -> io::Result<()> {
        sending.write_all(&binary_header(PAYLOAD as u64))?;
        let chunk = vec![0u8; 16 * 1024];
        for _ in 0..PAYLOAD / chunk.len() {
            sending.write_all(&chunk)?;
        }
        Ok(())
    });
    let err = read_until_error(&mut server);
    assert_eq!(err.close_code(), Some(1009));
    drop(server);
    writer
        .join()
        .unwrap()
        .expect("the server took every byte instead of resetting the connection");
    assert_eq!(peer_close_code(&mut raw), Some(1009));
    assert!(peer_sees_eof(&mut raw));
}
