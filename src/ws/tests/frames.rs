//! RFC 6455 §5.2, §5.5, §5.7: frames on a real socket.

use std::io::Write;

use super::*;

#[test]
fn rfc_examples_arrive_as_messages_at_a_client() {
    let (mut client, mut raw) = client_and_raw_server(Config::default());
    let mut bytes = vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]; // "Hello"
    bytes.extend_from_slice(&[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]); // "Hel" + "lo"
    bytes.extend_from_slice(&[0x82, 0x7E, 0x01, 0x00]);
    bytes.extend_from_slice(&[0xAB; 256]);
    bytes.extend_from_slice(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0, 0]);
    bytes.extend_from_slice(&[0xCD; 65536]);
    let writer = std::thread::spawn(move || raw.write_all(&bytes).map(|_| raw));
    assert_eq!(client.read().unwrap(), text("Hello"));
    assert_eq!(client.read().unwrap(), text("Hello"));
    assert_eq!(client.read().unwrap(), Message::Binary(vec![0xAB; 256]));
    assert_eq!(client.read().unwrap(), Message::Binary(vec![0xCD; 65536]));
    writer.join().unwrap().unwrap();
}

#[test]
fn the_masked_rfc_example_arrives_at_a_server() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ])
    .unwrap();
    assert_eq!(server.read().unwrap(), text("Hello"));
}

#[test]
fn a_ping_is_answered_with_a_pong_of_the_same_payload() {
    // RFC 6455 §5.7: unmasked ping "Hello" in, masked pong "Hello" out.
    let (mut client, mut raw) = client_and_raw_server(Config::default());
    raw.write_all(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        .unwrap();
    assert_eq!(client.read().unwrap(), Message::Ping(b"Hello".to_vec()));
    let (first, payload) = read_raw_frame(&mut raw).unwrap();
    assert_eq!((first, payload.as_slice()), (0x8A, &b"Hello"[..]));
}

#[test]
fn a_ping_inside_a_fragmented_message_is_answered_and_the_message_survives() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    let bytes = [
        client_frame(0x01, b"Hel"),
        client_frame(0x89, b"are you there?"),
        client_frame(0x80, b"lo"),
    ]
    .concat();
    raw.write_all(&bytes).unwrap();
    assert_eq!(
        server.read().unwrap(),
        Message::Ping(b"are you there?".to_vec())
    );
    assert_eq!(server.read().unwrap(), text("Hello"));
    assert_eq!(
        read_raw_frame(&mut raw).unwrap(),
        (0x8A, b"are you there?".to_vec())
    );
}

#[test]
fn an_unsolicited_pong_is_returned_and_disturbs_nothing() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    let bytes = [
        client_frame(0x01, b"Hel"),
        client_frame(0x8A, b"heartbeat"),
        client_frame(0x80, b"lo"),
    ]
    .concat();
    raw.write_all(&bytes).unwrap();
    assert_eq!(server.read().unwrap(), Message::Pong(b"heartbeat".to_vec()));
    assert_eq!(server.read().unwrap(), text("Hello"));
    // Nothing was sent in answer: the next frame the client sees is ours.
    server.send(text("next")).unwrap();
    assert_eq!(read_raw_frame(&mut raw).unwrap(), (0x81, b"next".to_vec()));
}

#[test]
fn non_minimal_length_encodings_are_accepted() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    let mut bytes = vec![0x81, 0xFE, 0x00, 0x05];
    bytes.extend_from_slice(&KEY);
    bytes.extend(b"Hello".iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    let mut long = vec![0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x05];
    long.extend_from_slice(&bytes[4..]);
    raw.write_all(&[bytes, long].concat()).unwrap();
    assert_eq!(server.read().unwrap(), text("Hello"));
    assert_eq!(server.read().unwrap(), text("Hello"));
}

#[test]
fn any_rsv_bit_fails_with_1002() {
    for rsv in [0x40, 0x20, 0x10] {
        assert_fails_with(&client_frame(0x81 | rsv, b"x"), 1002);
    }
}

#[test]
fn a_reserved_opcode_fails_with_1002() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        assert_fails_with(&client_frame(0x80 | opcode, b"x"), 1002);
    }
}

#[test]
fn a_64_bit_length_with_its_top_bit_set_fails_with_1002() {
    let mut bytes = vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&KEY);
    assert_fails_with(&bytes, 1002);
}

#[test]
fn an_unmasked_client_frame_fails_with_1002() {
    assert_fails_with(&server_frame(0x81, b"Hello"), 1002);
}

#[test]
fn an_unmasked_client_frame_fails_at_its_second_byte() {
    // The 8-byte length and the payload never come: the mask bit is enough.
    assert_fails_with(&[0x82, 0x7F], 1002);
}

#[test]
fn a_masked_server_frame_fails_with_1002() {
    assert_client_fails_with(&client_frame(0x81, b"Hello"), 1002);
}

#[test]
fn a_control_frame_over_125_bytes_fails_with_1002() {
    assert_fails_with(&client_frame(0x89, &[0; 126]), 1002);
}

#[test]
fn a_fragmented_control_frame_fails_with_1002() {
    assert_fails_with(&client_frame(0x09, b"ping"), 1002);
}

#[test]
fn many_buffered_frames_are_decoded_from_one_read_call() {
    let batch: Vec<u8> = (0..16u8)
        .flat_map(|i| client_frame(0x82, &[i; 64]))
        .collect();
    let mut server = WebSocket::from_parts(
        MemStream::new(vec![batch]),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    for i in 0..16u8 {
        assert_eq!(server.read().unwrap(), Message::Binary(vec![i; 64]));
    }
    assert_eq!(server.get_ref().reads, 1);
}

#[test]
fn a_pipelined_batch_is_answered_with_one_write_call() {
    let batch: Vec<u8> = (0..16u8)
        .flat_map(|i| client_frame(0x82, &[i; 64]))
        .collect();
    let mut server = WebSocket::from_parts(
        MemStream::new(vec![batch]),
        Role::Server,
        Vec::new(),
        Config::default(),
    );
    let mut answered = 0;
    while answered < 16 {
        let msg = server.read().unwrap();
        assert!(server.has_buffered_frame() || answered == 15);
        server.write(msg).unwrap();
        answered += 1;
        if !server.has_buffered_frame() {
            server.flush().unwrap();
        }
    }
    let expected: Vec<u8> = (0..16u8)
        .flat_map(|i| server_frame(0x82, &[i; 64]))
        .collect();
    assert_eq!(server.get_ref().writes, 1);
    assert_eq!(server.get_ref().written, expected);
}

#[test]
fn leftover_bytes_from_the_handshake_are_the_first_frames() {
    let leftover = [client_frame(0x81, b"early"), client_frame(0x81, b"bird")].concat();
    let mut server = WebSocket::from_parts(
        MemStream::new(Vec::new()),
        Role::Server,
        leftover,
        Config::default(),
    );
    assert_eq!(server.read().unwrap(), text("early"));
    assert_eq!(server.read().unwrap(), text("bird"));
    assert_eq!(server.get_ref().reads, 0);
}

#[test]
fn read_sends_queued_frames_before_it_waits() {
    // A peer that waits for our answer before it speaks must not deadlock.
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    server.write(text("queued")).unwrap();
    let peer = std::thread::spawn(move || {
        let got = read_raw_frame(&mut raw);
        raw.write_all(&client_frame(0x81, b"thanks")).unwrap();
        got
    });
    assert_eq!(server.read().unwrap(), text("thanks"));
    assert_eq!(peer.join().unwrap().unwrap(), (0x81, b"queued".to_vec()));
}

#[test]
fn a_frame_cut_by_a_timeout_resumes_on_the_next_read() {
    let frame = client_frame(0x81, "héllo wörld".as_bytes());
    for cut in 1..frame.len() {
        let chunks = vec![frame[..cut].to_vec(), Vec::new(), frame[cut..].to_vec()];
        let mut server = WebSocket::from_parts(
            MemStream::new(chunks),
            Role::Server,
            Vec::new(),
            Config::default(),
        );
        let first = server.read().unwrap_err();
        assert!(
            matches!(&first, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock),
            "{first:?}"
        );
        assert_eq!(server.read().unwrap(), text("héllo wörld"), "cut at {cut}");
    }
}
