//! The RESP client against a real `redis-server` (and, for TCP, a fake one that we script).

mod common;

use common::PATIENCE;
use common::redis::RedisServer;
use plainsock::resp::{Connection, Error, RedisUrl, Reply};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

#[test]
fn every_reply_type_from_the_real_server() {
    let redis = RedisServer::start();
    let mut conn = redis.connect();
    assert_eq!(
        conn.command(&["SET", "k", "v"]).unwrap(),
        Reply::Simple("OK".into())
    );
    assert_eq!(conn.command(&["GET", "k"]).unwrap(), bulk("v"));
    assert_eq!(conn.command(&["GET", "missing"]).unwrap(), Reply::NullBulk);
    assert_eq!(
        conn.command(&["INCRBY", "n", "-5"]).unwrap(),
        Reply::Integer(-5)
    );
    conn.command(&["RPUSH", "list", "a", "", "c"]).unwrap();
    assert_eq!(
        conn.command(&["LRANGE", "list", "0", "-1"]).unwrap(),
        Reply::Array(vec![bulk("a"), bulk(""), bulk("c")])
    );
    assert_eq!(
        conn.command(&["LRANGE", "nothing", "0", "-1"]).unwrap(),
        Reply::Array(vec![])
    );
    // XREAD BLOCK that times out answers with the null array.
    assert_eq!(
        conn.command(&["XREAD", "BLOCK", "10", "STREAMS", "s", "$"])
            .unwrap(),
        Reply::NullArray
    );
    // Nested arrays: an XRANGE entry is [id, [field, value]].
    let id = conn.command(&["XADD", "s", "*", "f", "v"]).unwrap();
    let entries = conn.command(&["XRANGE", "s", "-", "+"]).unwrap();
    assert_eq!(
        entries,
        Reply::Array(vec![Reply::Array(vec![
            id,
            Reply::Array(vec![bulk("f"), bulk("v")])
        ])])
    );
}

#[test]
fn errors_carry_redis_own_message() {
    let redis = RedisServer::start();
    let mut conn = redis.connect();
    conn.command(&["SET", "k", "v"]).unwrap();
    match conn.command(&["LPUSH", "k", "x"]) {
        Err(Error::Redis(message)) => assert!(
            message.starts_with("WRONGTYPE Operation against a key holding the wrong kind"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    match conn.command(&["NOSUCHCOMMAND", "a"]) {
        Err(e @ Error::Redis(_)) => {
            assert!(e.to_string().starts_with("ERR unknown command"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // The connection is still in step after an error.
    assert_eq!(
        conn.command(&["PING"]).unwrap(),
        Reply::Simple("PONG".into())
    );
}

#[test]
fn bulk_strings_are_binary_safe_and_large() {
    let redis = RedisServer::start();
    let mut conn = redis.connect();
    let mut value: Vec<u8> = (0..=255u8).cycle().take(3 * 1024 * 1024).collect();
    value.extend_from_slice(b"\r\n$-1\r\n*2\r\n");
    conn.command(&[&b"SET"[..], b"bin", &value]).unwrap();
    assert_eq!(
        conn.command(&["GET", "bin"]).unwrap(),
        Reply::Bulk(value.clone())
    );
    assert_eq!(
        conn.command(&["STRLEN", "bin"]).unwrap(),
        Reply::Integer(value.len() as i64)
    );
}

#[test]
fn pipelined_commands_answer_in_order() {
    let redis = RedisServer::start();
    let mut conn = redis.connect();
    let incr: &[&str] = &["INCR", "counter"];
    conn.send(&vec![incr; 1000]).unwrap();
    for want in 1..=1000 {
        assert_eq!(conn.read_reply().unwrap(), Reply::Integer(want));
    }
}

#[test]
fn a_read_timeout_and_a_closer_end_a_blocked_read() {
    let redis = RedisServer::start();
    let mut conn = redis.connect();
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    match conn.command(&["BLPOP", "never", "0"]) {
        Err(Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    drop(conn);
    let mut conn = redis.connect();
    conn.command(&["CLIENT", "SETNAME", "the-blocked-one"])
        .unwrap();
    conn.set_read_timeout(None).unwrap();
    let closer = conn.closer().unwrap();
    let blocked = thread::spawn(move || conn.command(&["BLPOP", "never", "0"]));
    // The BLPOP is in the server once CLIENT LIST shows a blocked client.
    let mut admin = redis.connect();
    assert!(common::eventually(|| {
        let info = admin.command(&["INFO", "clients"]).unwrap();
        info.as_str()
            .unwrap_or_default()
            .contains("blocked_clients:1")
    }));
    closer.close();
    assert!(matches!(blocked.join().unwrap(), Err(Error::Io(_))));
}

#[test]
fn a_missing_socket_names_the_os_error() {
    let redis = RedisServer::start();
    let url = RedisUrl::parse(&format!("{}.nope", redis.url())).unwrap();
    match Connection::open(&url, PATIENCE) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("connected to a missing socket"),
    }
}

/// A scripted server on TCP: answers whatever it is told, whatever the command.
fn fake_server(answers: Vec<&'static [u8]>) -> (RedisUrl, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = Vec::new();
        for answer in answers {
            let mut buf = [0u8; 4096];
            let n = socket.read(&mut buf).unwrap_or(0);
            got.extend_from_slice(&buf[..n]);
            // Dribble the answer a few bytes at a time.
            for chunk in answer.chunks(3) {
                if socket.write_all(chunk).is_err() {
                    break;
                }
            }
        }
        got
    });
    (
        RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap(),
        handle,
    )
}

#[test]
fn over_tcp_with_a_scripted_server() {
    let (url, server) = fake_server(vec![b"*2\r\n$5\r\nhello\r\n:7\r\n"]);
    let mut conn = Connection::open(&url, PATIENCE).unwrap();
    assert_eq!(
        conn.command(&["ECHO", "x"]).unwrap(),
        Reply::Array(vec![bulk("hello"), Reply::Integer(7)])
    );
    drop(conn);
    assert_eq!(server.join().unwrap(), b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n");
}

#[test]
fn the_url_database_is_selected_on_connect() {
    let (url, server) = fake_server(vec![b"+OK\r\n", b"+PONG\r\n"]);
    let url = RedisUrl { db: 3, ..url };
    let mut conn = Connection::open(&url, PATIENCE).unwrap();
    conn.command(&["PING"]).unwrap();
    drop(conn);
    assert_eq!(
        server.join().unwrap(),
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*1\r\n$4\r\nPING\r\n"
    );
}

#[test]
fn a_hostile_server_gets_a_protocol_error_not_an_allocation() {
    for (answer, want) in [
        (&b"$4294967296000\r\n"[..], "over the limit"),
        (b"*999999999999\r\n", "over the limit"),
        (b"%3\r\n", "RESP3"),
        (b"+no carriage return\n", "without \\r"),
    ] {
        let (url, _server) = fake_server(vec![answer]);
        let mut conn = Connection::open(&url, PATIENCE).unwrap();
        match conn.command(&["PING"]) {
            Err(Error::Protocol(why)) => assert!(why.contains(want), "{why}"),
            other => panic!("{answer:?}: {other:?}"),
        }
    }
    // A server that closes mid-reply.
    let (url, _server) = fake_server(vec![b"$10\r\nabc"]);
    let mut conn = Connection::open(&url, PATIENCE).unwrap();
    match conn.command(&["PING"]) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_tcp_port_is_an_os_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    match Connection::open(&url, PATIENCE) {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("something listens on the freed port {port}"),
    }
}
