//! UDP echo server: every datagram is sent back to the address it came from.
//!
//! Run:  cargo run --example udp_echo_server [ADDR]     (ADDR defaults to 127.0.0.1:7101)
//! Talk: nc -u 127.0.0.1 7101     (each line you type is one datagram, echoed back)
//!
//! No connection, no handshake, no FIN: one socket serves every peer, and the only thing
//! telling peers apart is the address each datagram carries. Datagrams keep their
//! boundaries, but may be lost, duplicated or arrive out of order; nobody resends them.

use std::io;
use std::net::UdpSocket;

/// The largest UDP payload over IPv4: 65,535 (IP total length) - 20 (IP header) - 8 (UDP header).
const MAX_PAYLOAD: usize = 65_507;

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7101".to_string());
    // socket() + bind(): one socket for all peers; no listen(), no accept().
    let socket = UdpSocket::bind(&addr)?;
    println!("udp echo server on {}", socket.local_addr()?);
    let mut buf = vec![0u8; MAX_PAYLOAD];
    loop {
        // recv_from(): exactly one whole datagram, plus the address of whoever sent it.
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) => {
                eprintln!("recv_from: {e}");
                continue;
            }
        };
        println!("{n} bytes from {peer}");
        // send_to(): one datagram back to that address; no delivery guarantee, no error if lost.
        if let Err(e) = socket.send_to(&buf[..n], peer) {
            eprintln!("send_to {peer}: {e}");
        }
    }
}
