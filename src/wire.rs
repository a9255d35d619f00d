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
}
