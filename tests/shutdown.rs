//! Graceful shutdown. Alone in its file (its own process), so the thread count it reads is its own.

mod common;

use common::{TcpChat, UdpChat, eventually, server, thread_count};

#[test]
fn shutdown_says_goodbye_and_joins_every_thread() {
    let before = thread_count();
    let server = server(|_| {});
    let mut members: Vec<TcpChat> = (0..5).map(|_| TcpChat::join(&server)).collect();
    let mut udp = UdpChat::join(&server);
    assert!(server.member_count() == 6);
    assert!(
        server.shutdown(),
        "every connection thread ended within the grace period"
    );
    for m in &mut members {
        m.expect("* server shutting down");
        assert!(m.closed());
    }
    udp.expect("* server shutting down");
    assert!(
        eventually(|| thread_count() <= before),
        "threads left behind: {} > {before}",
        thread_count()
    );
}
