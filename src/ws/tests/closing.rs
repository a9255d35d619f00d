//! RFC 6455 §5.5.1, §7: the closing handshake and close codes.

use std::io::Write;

use super::*;
use crate::ws::CloseFrame;

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_owned(),
    }))
}

#[test]
fn when_the_client_closes_the_server_echoes_and_closes_tcp() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(&client_frame(0x88, &close_body(1000, "bye")))
        .unwrap();
    assert_eq!(server.read().unwrap(), close(1000, "bye"));
    assert_eq!(read_raw_close(&mut raw), close_body(1000, "bye"));
    assert!(peer_sees_eof(&mut raw), "the server should shut TCP down");
    // Reads now say the connection is closed, with the peer's code and reason.
    let err = server.read().unwrap_err();
    assert!(
        matches!(&err, Error::Closed { code: Some(1000), reason } if reason == "bye"),
        "{err:?}"
    );
    assert!(matches!(
        server.send(text("late")),
        Err(Error::Closed { .. })
    ));
}

#[test]
fn when_the_server_closes_the_client_echoes_and_the_server_closes_tcp() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    server.close(1001, "going away").unwrap();
    assert_eq!(peer_close_code(&mut raw), Some(1001));
    raw.write_all(&client_frame(0x88, &close_body(1001, "")))
        .unwrap();
    assert_eq!(server.read().unwrap(), close(1001, ""));
    assert!(peer_sees_eof(&mut raw));
}

#[test]
fn a_client_echoes_the_servers_close_with_the_same_code() {
    let (mut client, mut raw) = client_and_raw_server(Config::default());
    raw.write_all(&server_frame(0x88, &close_body(4000, "app says bye")))
        .unwrap();
    assert_eq!(client.read().unwrap(), close(4000, "app says bye"));
    assert_eq!(peer_close_code(&mut raw), Some(4000));
    assert!(matches!(
        client.send(text("late")),
        Err(Error::Closed {
            code: Some(4000),
            ..
        })
    ));
}

#[test]
fn two_plainsock_ends_complete_the_handshake() {
    let (mut server, mut client) = ws_pair();
    client.close(1000, "done").unwrap();
    assert_eq!(server.read().unwrap(), close(1000, "done"));
    assert_eq!(client.read().unwrap(), close(1000, "done"));
    assert_eq!(client.read().unwrap_err().close_code(), Some(1000));
    assert_eq!(server.read().unwrap_err().close_code(), Some(1000));
}

#[test]
fn data_still_arriving_after_our_close_is_delivered_until_the_peers_close() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    server.close(1000, "").unwrap();
    raw.write_all(
        &[
            client_frame(0x81, b"in flight"),
            client_frame(0x88, &close_body(1000, "")),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(server.read().unwrap(), text("in flight"));
    assert_eq!(server.read().unwrap(), close(1000, ""));
}

#[test]
fn valid_close_codes_are_echoed() {
    let valid = (1000..=1003)
        .chain(1007..=1014)
        .chain([3000, 3999, 4000, 4999]);
    for code in valid {
        let (mut server, mut raw) = server_and_raw_client(Config::default());
        raw.write_all(&client_frame(0x88, &close_body(code, "")))
            .unwrap();
        assert_eq!(server.read().unwrap(), close(code, ""), "code {code}");
        assert_eq!(peer_close_code(&mut raw), Some(code));
    }
}

#[test]
fn invalid_close_codes_fail_with_1002() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        assert_fails_with(&client_frame(0x88, &close_body(code, "")), 1002);
    }
}

#[test]
fn a_1_byte_close_payload_fails_with_1002() {
    assert_fails_with(&client_frame(0x88, &[0x03]), 1002);
}

#[test]
fn a_close_reason_that_is_not_utf8_fails_with_1007() {
    assert_fails_with(&client_frame(0x88, &[0x03, 0xE8, 0xFF, 0xFE]), 1007);
}

#[test]
fn an_empty_close_payload_is_valid_and_echoed_empty() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(&client_frame(0x88, b"")).unwrap();
    assert_eq!(server.read().unwrap(), Message::Close(None));
    assert_eq!(read_raw_close(&mut raw), b"");
    assert_eq!(server.read().unwrap_err().close_code(), None);
}

#[test]
fn a_close_may_interrupt_a_fragmented_message() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(
        &[
            client_frame(0x01, b"half"),
            client_frame(0x88, &close_body(1000, "")),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(server.read().unwrap(), close(1000, ""));
}

#[test]
fn after_we_fail_the_connection_nothing_else_is_sent() {
    let (mut server, mut raw) = server_and_raw_client(Config::default());
    raw.write_all(&client_frame(0xC1, b"rsv1")).unwrap();
    assert_eq!(server.read().unwrap_err().close_code(), Some(1002));
    assert!(matches!(
        server.send(text("late")),
        Err(Error::Closed {
            code: Some(1002),
            ..
        })
    ));
    let (first, body) = read_raw_frame(&mut raw).unwrap();
    assert_eq!((first, &body[..2]), (0x88, &1002u16.to_be_bytes()[..]));
    assert!(peer_sees_eof(&mut raw), "after the Close, the stream ends");
}

#[test]
fn a_peer_that_vanishes_without_a_close_frame_reads_as_closed() {
    let (mut server, raw) = server_and_raw_client(Config::default());
    drop(raw);
    let err = server.read().unwrap_err();
    assert!(matches!(err, Error::Closed { code: None, .. }), "{err:?}");
    assert!(matches!(
        server.read(),
        Err(Error::Closed { code: None, .. })
    ));
}

#[test]
fn close_refuses_codes_that_must_not_be_sent() {
    let (mut server, _raw) = server_and_raw_client(Config::default());
    assert!(server.close(1005, "").is_err());
    server.close(1000, "").unwrap();
}
