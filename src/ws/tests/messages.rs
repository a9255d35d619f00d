//! RFC 6455 §5.4 (fragmentation), §5.6 (data frames), §8.1 (UTF-8).

use std::io::Write;

use super::*;

#[test]
fn fragmented_messages_are_reassembled() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    let bytes = [
        client_frame(0x01, b"frag"),
        client_frame(0x00, b"men"),
        client_frame(0x80, b"ted"),
        client_frame(0x02, &[1, 2]),
        client_frame(0x00, &[]),
        client_frame(0x80, &[3]),
    ]
    .concat();
    raw.write_all(&bytes).unwrap();
    assert_eq!(server.read().unwrap(), text("fragmented"));
    assert_eq!(server.read().unwrap(), Message::Binary(vec![1, 2, 3]));
}

#[test]
fn empty_messages_are_messages() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(&[client_frame(0x81, b""), client_frame(0x82, b"")].concat())
        .unwrap();
    assert_eq!(server.read().unwrap(), text(""));
    assert_eq!(server.read().unwrap(), Message::Binary(Vec::new()));
}

#[test]
fn a_continuation_with_no_message_open_fails_with_1002() {
    assert_fails_with(&client_frame(0x80, b"orphan"), 1002);
}

#[test]
fn a_new_text_frame_while_a_message_is_open_fails_with_1002() {
    assert_fails_with(
        &[client_frame(0x01, b"one"), client_frame(0x81, b"two")].concat(),
        1002,
    );
}

#[test]
fn a_new_binary_frame_while_a_message_is_open_fails_with_1002() {
    assert_fails_with(
        &[client_frame(0x02, b"one"), client_frame(0x82, b"two")].concat(),
        1002,
    );
}

#[test]
fn text_that_is_not_utf8_fails_with_1007() {
    assert_fails_with(&client_frame(0x81, b"caf\xE9"), 1007);
}

#[test]
fn a_code_point_cut_off_at_the_end_of_the_message_fails_with_1007() {
    assert_fails_with(
        &[client_frame(0x01, b"\xE2"), client_frame(0x80, b"\x82")].concat(),
        1007,
    );
}

// Failing "as soon as a prefix can no longer be valid": the message is left
// unfinished, so a server that waited for its end would time out instead.

#[test]
fn f4_90_fails_at_the_second_byte_before_the_message_ends() {
    assert_fails_with(
        &[client_frame(0x01, b"ok\xF4"), client_frame(0x00, b"\x90")].concat(),
        1007,
    );
}

#[test]
fn overlong_e0_80_fails_at_once() {
    assert_fails_with(&client_frame(0x01, b"\xE0\x80"), 1007);
}

#[test]
fn surrogate_ed_a0_fails_at_once() {
    assert_fails_with(&client_frame(0x01, b"\xED\xA0"), 1007);
}

#[test]
fn invalid_utf8_fails_before_the_rest_of_its_frame_arrives() {
    let frame = client_frame(0x81, &[b"ok\xF4\x90".as_slice(), &[b'x'; 300]].concat());
    // Only the header and the first 6 payload bytes are sent.
    assert_fails_with(&frame[..8 + 6], 1007);
}

#[test]
fn a_code_point_split_across_fragments_is_fine() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    let bytes = [
        client_frame(0x01, b"\xE2"),
        client_frame(0x00, b"\x82"),
        client_frame(0x80, b"\xAC"),
    ]
    .concat();
    raw.write_all(&bytes).unwrap();
    assert_eq!(server.read().unwrap(), text("€"));
}

#[test]
fn big_fragmented_text_with_multibyte_characters_arrives_intact() {
    let (mut server, mut client) = ws_pair();
    let original = "añ€𝄞 ".repeat(100_000); // ~1 MiB, code points of every width
    let expected = original.clone();
    let sender = std::thread::spawn(move || {
        // Fragments cut inside code points, written as raw frames through the client's socket.
        let bytes = original.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(65_537).collect();
        let mut frames = Vec::new();
        for (i, piece) in pieces.iter().enumerate() {
            let opcode = if i == 0 { 0x01 } else { 0x00 };
            let fin = if i + 1 == pieces.len() { 0x80 } else { 0 };
            frames.extend(client_frame(fin | opcode, piece));
        }
        client.get_mut().write_all(&frames)
    });
    assert_eq!(server.read().unwrap(), Message::Text(expected));
    sender.join().unwrap().unwrap();
}

#[test]
fn big_binary_messages_arrive_intact_both_ways() {
    let (mut server, mut client) = ws_pair();
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    let sender = std::thread::spawn(move || {
        client.send(Message::Binary(payload))?;
        client.read()
    });
    let got = server.read().unwrap();
    assert_eq!(got, Message::Binary(expected.clone()));
    server.send(got).unwrap();
    assert_eq!(sender.join().unwrap().unwrap(), Message::Binary(expected));
}
