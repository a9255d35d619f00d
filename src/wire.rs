//! Writing to a blocking socket without waiting on it: gather writes, and the rest of a buffer
//! that a short write cut.
//!
//! A blocking `write` on a socket whose send buffer is full waits until the peer reads, or
//! until the socket's write timeout. A server that writes to many peers from one thread must
//! not wait on any one of them, so plainsock gives its sockets a tiny write timeout and treats
//! "the kernel took less than everything" as "this peer is full for now": what is left of a cut
//! buffer is kept and goes out first next time, so the peer still receives whole frames and
//! whole lines, in order, none twice.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Is this error "the socket's buffer is full", not "the peer is gone"? A socket with a write
/// timeout says `WouldBlock` (EAGAIN) or, on some systems, `TimedOut`.
pub fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Hands `w` first `rest` (the unwritten end of a buffer cut last time), then as many of
/// `parts` as it takes now, with as few system calls as the kernel allows.
///
/// Returns how many of `parts` were taken. A part cut by a short write counts as taken: its
/// unwritten end is left in `rest`. `Ok(n)` with `n < parts.len()`, or with `rest` not empty,
/// means the writer is full for now. An error other than "full" means the peer is gone.
pub fn write_now(w: impl Write, rest: &mut Vec<u8>, parts: &[&[u8]]) -> io::Result<usize> {
    let mut w = w;
    // First the end of a cut buffer: nothing may overtake it, or a frame would be torn.
    let mut done = 0;
    while done < rest.len() {
        match w.write(&rest[done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_full(&e) => {
                rest.drain(..done);
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        if done < rest.len() {
            // A short write: the kernel has no more room now.
            rest.drain(..done);
            return Ok(0);
        }
    }
    rest.clear();
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut written = 0;
    while written < total {
        let mut bufs = &mut slices[..];
        IoSlice::advance_slices(&mut bufs, written);
        // One buffer (the usual case: one line for one member) goes through `write`, which for
        // a socket is send(2); `writev` costs more in the kernel for the same bytes.
        let sent = match bufs {
            [one] => w.write(one),
            _ => w.write_vectored(bufs),
        };
        match sent {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                if written < total {
                    break; // short write: full for now
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_full(&e) => break,
            Err(e) => return Err(e),
        }
    }
    // Which parts are whole, and which one (if any) was cut?
    let mut taken = 0;
    let mut left = written;
    for part in parts {
        if left >= part.len() {
            left -= part.len();
            taken += 1;
        } else {
            if left > 0 {
                rest.extend_from_slice(&part[left..]);
                taken += 1;
            }
            break;
        }
    }
    Ok(taken)
}

/// Writes all of `bufs` (like `write_all`, for a gather list), waiting as the writer's timeout
/// allows: for one-off writes such as a goodbye, not for the broadcast path.
pub fn write_all_vectored(mut w: impl Write, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut bufs = bufs;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Runs `write` with `stream` non-blocking, then makes it blocking again.
///
/// A write timeout does not make a write to a full socket return at once: Linux rounds it up
/// to kernel ticks, and such a write sleeps about 8 ms before it says "full" (measured on
/// this machine). A lane that meets 25 members whose buffers fill in the same moment would
/// lose 200 ms, and every other member of the lane with it. Non-blocking, the same write says
/// "full" at once.
///
/// The flag belongs to the socket, not to one call (std has no `MSG_DONTWAIT`), so a reader
/// that calls `read` on another thread in that moment gets `WouldBlock` early: the readers of
/// member sockets read again then ([`is_spurious`]).
pub fn without_waiting<T>(
    stream: &TcpStream,
    write: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    stream.set_nonblocking(true)?;
    let result = write();
    // A socket left non-blocking would turn its reader into a spinning loop: if the flag
    // cannot be cleared, the member is as good as gone.
    stream.set_nonblocking(false)?;
    result
}

/// Is this error from a read that began at `asked` only the trace of [`without_waiting`] on
/// another thread, not the end of the read timeout (`None`: the socket has none)?
pub fn is_spurious(e: &io::Error, asked: Instant, timeout: Option<Duration>) -> bool {
    e.kind() == io::ErrorKind::WouldBlock && timeout.is_none_or(|t| asked.elapsed() < t)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A writer like a socket that is nearly full: it takes at most `per_call` bytes a call,
    /// and after `budget` bytes in all it takes nothing (`WouldBlock`) until `refill`.
    pub(crate) struct Tight {
        pub out: Vec<u8>,
        pub per_call: usize,
        pub budget: usize,
    }

    impl Tight {
        pub fn new(per_call: usize, budget: usize) -> Tight {
            Tight {
                out: Vec::new(),
                per_call,
                budget,
            }
        }
    }

    impl Write for Tight {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.per_call).min(self.budget);
            self.out.extend_from_slice(&buf[..n]);
            self.budget -= n;
            Ok(n)
        }
        /// Like a socket's `writev`: one call may take from several buffers.
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut room = self.per_call.min(self.budget);
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(room);
                self.out.extend_from_slice(&buf[..take]);
                (room, n) = (room - take, n + take);
            }
            self.budget -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_cut_part_is_finished_before_anything_else() {
        let parts: [&[u8]; 3] = [b"first\n", b"second\n", b"third\n"];
        let mut w = Tight::new(100, 9);
        let mut rest = Vec::new();
        // "first\n" and "sec" fit: two parts taken, the end of the second kept.
        assert_eq!(write_now(&mut w, &mut rest, &parts).unwrap(), 2);
        assert_eq!(rest, b"ond\n");
        // Still full: nothing moves, nothing is lost.
        assert_eq!(write_now(&mut w, &mut rest, &parts[2..]).unwrap(), 0);
        w.budget = 100;
        assert_eq!(write_now(&mut w, &mut rest, &parts[2..]).unwrap(), 1);
        assert!(rest.is_empty());
        assert_eq!(w.out, b"first\nsecond\nthird\n");
    }

    #[test]
    fn three_bytes_a_call_still_gives_every_byte_in_order() {
        let parts: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let mut w = Tight::new(3, usize::MAX);
        let mut rest = Vec::new();
        let mut next = 0;
        for _ in 0..10_000 {
            if next == parts.len() && rest.is_empty() {
                break;
            }
            let refs: Vec<&[u8]> = parts[next..].iter().map(|p| &p[..]).collect();
            next += write_now(&mut w, &mut rest, &refs).unwrap();
        }
        assert_eq!(w.out, parts.concat());
    }

    #[test]
    fn vectored_write_survives_short_writes() {
        let mut out = Tight::new(3, usize::MAX);
        let mut bufs = [
            IoSlice::new(b"hello "),
            IoSlice::new(b""),
            IoSlice::new(b"world\n"),
        ];
        write_all_vectored(&mut out, &mut bufs).unwrap();
        assert_eq!(out.out, b"hello world\n");
    }

    /// The socket's file status flags as the kernel reports them (`O_NONBLOCK` is 0o4000).
    fn nonblocking(stream: &TcpStream) -> bool {
        use std::os::fd::AsRawFd;
        let info =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", stream.as_raw_fd())).unwrap();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap()
            .trim();
        u32::from_str_radix(flags, 8).unwrap() & 0o4000 != 0
    }

    #[test]
    fn a_write_without_waiting_leaves_the_socket_blocking_again() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_theirs, _) = listener.accept().unwrap();
        // Were the helper to leave the socket blocking, the filling below would end anyway.
        ours.set_write_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let inside = without_waiting(&ours, || Ok(nonblocking(&ours))).unwrap();
        assert!(inside, "non-blocking while the write runs");
        assert!(
            !nonblocking(&ours),
            "blocking again afterwards, for its reader"
        );
        // Also when the write fails: a full socket says so at once, and is blocking again.
        let chunk = vec![0u8; 64 * 1024];
        let mut full = None;
        for _ in 0..10_000 {
            if let Err(e) = without_waiting(&ours, || (&ours).write(&chunk)) {
                full = Some(e);
                break;
            }
        }
        assert!(is_full(
            &full.expect("the peer never reads: the socket fills")
        ));
        assert!(!nonblocking(&ours));
    }

    #[test]
    fn only_an_early_would_block_is_spurious() {
        let would_block = io::Error::from(io::ErrorKind::WouldBlock);
        let now = Instant::now();
        let second = Some(Duration::from_secs(1));
        assert!(is_spurious(&would_block, now, second));
        assert!(
            is_spurious(&would_block, now, None),
            "no timeout: never a timeout"
        );
        let long_ago = now.checked_sub(Duration::from_secs(2)).unwrap_or(now);
        if long_ago < now {
            assert!(
                !is_spurious(&would_block, long_ago, second),
                "the timeout passed"
            );
        }
        let timed_out = io::Error::from(io::ErrorKind::TimedOut);
        assert!(!is_spurious(&timed_out, now, second));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(!is_spurious(&reset, now, None));
    }
}
