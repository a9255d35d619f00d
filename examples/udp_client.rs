//! UDP client: each stdin line is sent as one datagram (ending in `\n`); the reply is printed.
//!
//! Run:  cargo run --example udp_client 127.0.0.1:7101     (against udp_echo_server)
//! Talk: nc -u -l 127.0.0.1 7101     (start this first: nc plays the server, type replies there)
//!
//! A reply that does not come within the read timeout is reported; a late one shows up
//! after the next line: UDP neither resends nor orders datagrams.

use std::io::{self, BufRead};
use std::net::UdpSocket;
use std::time::Duration;

/// The largest UDP payload over IPv4: 65,535 - 20 (IP header) - 8 (UDP header).
const MAX_PAYLOAD: usize = 65_507;
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

fn main() -> io::Result<()> {
    let Some(addr) = std::env::args().nth(1) else {
        eprintln!("usage: udp_client ADDR     (for example 127.0.0.1:7101)");
        std::process::exit(2);
    };
    // socket() + bind() to port 0: the kernel picks a free port, our return address.
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    // connect(): sends NOTHING; it only sets the default peer for send()/recv() and
    // makes the kernel drop datagrams arriving from any other address.
    socket.connect(&addr)?;
    println!("sending to {addr} from {}", socket.local_addr()?);
    // UDP has no FIN to say "no answer is coming", so we bound every wait ourselves.
    socket.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut buf = vec![0u8; MAX_PAYLOAD];
    for line in io::stdin().lock().lines() {
        let line = line?;
        // send(): the line becomes exactly one datagram. Its end already marks the message's
        // end; the newline is for whoever prints it (`nc -u -l` shows one line per datagram).
        socket.send(format!("{line}\n").as_bytes())?;
        // recv(): exactly one whole datagram, only from the connected peer.
        match socket.recv(&mut buf) {
            Ok(n) => println!("{}", String::from_utf8_lossy(&buf[..n]).trim_end()),
            // The timeout shows up as WouldBlock or TimedOut, depending on the platform.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                eprintln!("(no reply within {REPLY_TIMEOUT:?}: lost, or nobody answered)")
            }
            // A connected UDP socket learns of an ICMP "port unreachable": nobody is listening.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                eprintln!("(refused: nothing listens on {addr})")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
