//! A WebSocket member that never reads while 100 MiB are broadcast: it is evicted, everyone
//! else gets every line, and the server's memory stays bounded. Alone in its file (its own
//! process), so the resident memory it reads is its own.

mod common;

use common::{TcpChat, WsChat, eventually, rss_kib, server};
use std::io::Write;
use std::time::Duration;

const LINE: usize = 8000;
const LINES: usize = 100 * 1024 * 1024 / LINE;

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_reader_that_never_reads_is_evicted_and_memory_stays_bounded() {
    let server = server(|c| c.write_timeout = Duration::from_millis(500));
    let stalled = WsChat::join(&server);
    let mut witness = WsChat::join(&server);
    let sender = TcpChat::join(&server);
    let before = rss_kib();

    // The sender is a member too: it reads its own echo on another thread while it sends.
    let nick = sender.nick.clone();
    let mut writer = sender.stream.try_clone().unwrap();
    let mut echo = sender;
    let text = "m".repeat(LINE - 6);
    let send = std::thread::spawn(move || {
        for i in 0..LINES {
            writer
                .write_all(format!("{i:05} {text}\n").as_bytes())
                .unwrap();
        }
    });
    let last = format!("{nick}: {:05} ", LINES - 1);
    let echoes = std::thread::spawn(move || {
        echo.expect_prefix(&last);
        echo
    });

    let mut next = 0;
    while next < LINES {
        let line = witness.line();
        if let Some(rest) = line.strip_prefix(&format!("{nick}: ")) {
            assert_eq!(
                rest[..5].parse::<usize>().unwrap(),
                next,
                "in order, none missing"
            );
            next += 1;
        }
    }
    send.join().unwrap();
    let _sender = echoes.join().unwrap();
    let peak = peak_rss_kib();
    eprintln!(
        "stall: RSS before {} MiB, peak {} MiB, after {} MiB",
        before / 1024,
        peak / 1024,
        rss_kib() / 1024
    );
    assert!(
        eventually(|| server.member_count() == 2),
        "the stalled member was evicted"
    );
    drop(stalled);
    assert!(
        peak < before + 64 * 1024,
        "memory grew from {} MiB to {} MiB while 100 MiB went by",
        before / 1024,
        peak / 1024
    );
}
