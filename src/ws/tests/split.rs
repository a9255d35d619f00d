//! A reader thread and writer threads on one connection.

use std::io::Write;
use std::thread;

use super::*;
use crate::ws::frame::{self, Opcode};
use crate::ws::{WsReader, WsWriter};

#[test]
fn the_halves_can_move_between_threads_and_the_writer_can_be_shared() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send<T: Send>() {}
    send_sync_clone::<WsWriter>();
    send::<WsReader>();
    send::<WebSocket<TcpStream>>();
}

#[test]
fn pongs_from_the_reader_never_land_inside_a_writers_frame() {
    const WRITERS: u8 = 2;
    const MESSAGES: usize = 40;
    const PINGS: usize = 20;
    let (server, mut client) = ws_pair();
    let (mut reader, writer) = server.split();
    let writers: Vec<_> = (0..WRITERS)
        .map(|id| {
            let writer = writer.clone();
            thread::spawn(move || {
                for seq in 0..MESSAGES {
                    let payload = vec![id.wrapping_mul(100).wrapping_add(seq as u8); 50_000];
                    writer.send(Message::Binary(payload))?;
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    let reading = thread::spawn(move || {
        let mut pings = 0;
        loop {
            match reader.read() {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(Message::Close(_)) => return Ok(pings),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) => return Err(e),
            }
        }
    });
    for i in 0..PINGS {
        client.send(Message::Ping(vec![i as u8; 100])).unwrap();
    }
    let (mut binaries, mut pongs) = (0, 0);
    while binaries < WRITERS as usize * MESSAGES || pongs < PINGS {
        match client.read().unwrap() {
            Message::Binary(payload) => {
                assert_eq!(payload.len(), 50_000);
                assert!(
                    payload.iter().all(|&b| b == payload[0]),
                    "a frame was corrupted"
                );
                binaries += 1;
            }
            Message::Pong(payload) => {
                assert_eq!(payload, vec![pongs as u8; 100]);
                pongs += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for w in writers {
        w.join().unwrap().unwrap();
    }
    client.close(1000, "").unwrap();
    assert_eq!(reading.join().unwrap().unwrap(), PINGS);
    assert_eq!(
        client.read().unwrap(),
        Message::Close(Some(crate::ws::CloseFrame {
            code: 1000,
            reason: String::new()
        }))
    );
}

#[test]
fn a_frame_prepared_once_goes_to_many_connections() {
    let mut prepared = Vec::new();
    frame::encode(true, Opcode::Text, None, b"to everyone", &mut prepared);
    let pairs: Vec<_> = (0..3).map(|_| ws_pair()).collect();
    let mut clients = Vec::new();
    for (server, client) in pairs {
        let (_reader, writer) = server.split();
        writer.send_prepared(&prepared).unwrap();
        clients.push(client);
    }
    for client in &mut clients {
        assert_eq!(client.read().unwrap(), text("to everyone"));
    }
}

#[test]
fn shutdown_ends_the_stream_for_the_peer() {
    let (server, mut client) = ws_pair();
    let (_reader, writer) = server.split();
    writer.shutdown().unwrap();
    assert!(matches!(
        client.read(),
        Err(Error::Closed { code: None, .. })
    ));
}

#[test]
fn the_reader_echoes_a_close_through_the_writer_and_closes_tcp() {
    let (server, mut raw) = server_and_raw_client(Config::default());
    let (mut reader, writer) = server.split();
    raw.write_all(&client_frame(0x88, &close_body(1000, "")))
        .unwrap();
    assert!(matches!(reader.read().unwrap(), Message::Close(Some(_))));
    assert_eq!(peer_close_code(&mut raw), Some(1000));
    assert!(peer_sees_eof(&mut raw));
    assert!(matches!(
        writer.send(text("late")),
        Err(Error::Closed { .. })
    ));
    assert_eq!(reader.read().unwrap_err().close_code(), Some(1000));
}

#[test]
fn the_reader_fails_the_connection_through_the_writer() {
    let (server, mut raw) = server_and_raw_client(Config::default());
    let (mut reader, writer) = server.split();
    raw.write_all(&client_frame(0x83, b"reserved opcode"))
        .unwrap();
    assert_eq!(reader.read().unwrap_err().close_code(), Some(1002));
    assert_eq!(peer_close_code(&mut raw), Some(1002));
    assert!(writer.send(text("late")).is_err());
    assert_eq!(reader.read().unwrap_err().close_code(), Some(1002));
}

#[test]
fn frames_queued_before_the_split_go_out_with_the_next_send() {
    let (mut server, mut client) = ws_pair();
    server.write(text("queued")).unwrap();
    let (_reader, writer) = server.split();
    writer.send(text("sent")).unwrap();
    assert_eq!(client.read().unwrap(), text("queued"));
    assert_eq!(client.read().unwrap(), text("sent"));
}
