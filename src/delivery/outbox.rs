//! A member's outbox: the lines waiting for it, bounded in bytes and in age.
//!
//! The lines are `Arc<Outgoing>`: a broadcast is stored once however many outboxes hold it.
//! A member whose outbox goes over [`Bounds`] does not read fast enough and is evicted; that,
//! not a blocking write, is what keeps one member from slowing the rest.

use super::{Outgoing, Outlet, StreamOutlet};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// At most this many lines are offered to a transport in one call (one `writev`; well under
/// the kernel's 1,024 slices).
pub const MAX_OFFER: usize = 256;

/// How much may wait for one member.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Bytes of lines waiting (`--max-outbox`).
    pub max_bytes: usize,
    /// Age of the oldest waiting line (`--write-timeout`).
    pub max_age: Duration,
}

/// The lines not yet handed to the member's transport, oldest first.
#[derive(Default)]
pub struct Outbox {
    lines: VecDeque<(Arc<Outgoing>, Instant)>,
    bytes: usize,
}

impl Outbox {
    pub fn push(&mut self, line: Arc<Outgoing>, now: Instant) {
        self.bytes += line.size();
        self.lines.push_back((line, now));
    }

    /// Has the member fallen too far behind: too many bytes waiting, or the oldest too old?
    pub fn over(&self, bounds: &Bounds, now: Instant) -> bool {
        self.bytes > bounds.max_bytes
            || self
                .lines
                .front()
                .is_some_and(|(_, at)| now.saturating_duration_since(*at) > bounds.max_age)
    }

    /// The first `max` waiting lines (shared, not copied).
    pub fn peek(&self, max: usize) -> Vec<Arc<Outgoing>> {
        self.lines
            .iter()
            .take(max)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Forgets the first `n` lines: the transport has them.
    pub fn pop(&mut self, n: usize) {
        for (line, _) in self.lines.drain(..n.min(self.lines.len())) {
            self.bytes -= line.size();
        }
    }

    /// The oldest lines while they fit in `budget` bytes (one at least, if any waits): what
    /// one long-poll answer may carry.
    pub fn take_up_to(&mut self, budget: usize) -> Vec<Arc<Outgoing>> {
        let mut taken = Vec::new();
        let mut size = 0;
        while let Some((line, _)) = self.lines.front() {
            if !taken.is_empty() && size + line.size() > budget {
                break;
            }
            size += line.size();
            self.bytes -= line.size();
            if let Some((line, _)) = self.lines.pop_front() {
                taken.push(line);
            }
        }
        taken
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Who may write to the member now. Exactly one thread at a time offers a member's lines, so
/// they leave in order; the outbox lock is never held during a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Its lane: the socket took everything last time.
    Lane,
    /// The retry thread: the socket was full.
    Retry,
    /// It is gone; nothing more is offered.
    Closed,
}

struct State {
    outbox: Outbox,
    turn: Turn,
    /// When the socket was last found full (the turn went to `Retry`).
    full_since: Option<Instant>,
}

/// A member's outbox shared by the threads that fill and empty it: its lane, the retry thread,
/// and, for a transport that pulls (long polling), the request thread that takes the lines.
pub struct Mailbox {
    state: Mutex<State>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            state: Mutex::new(State {
                outbox: Outbox::default(),
                turn: Turn::Lane,
                full_since: None,
            }),
        }
    }
}

/// What one offer did.
#[derive(Debug, PartialEq, Eq)]
pub enum Offered {
    /// Everything waiting was taken.
    All,
    /// The transport took some lines, then was full; the rest still waits.
    Partial,
    /// The transport took nothing: it is full; lines still wait.
    Full,
    /// The member is gone (its write failed).
    Gone(io::ErrorKind),
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing leaves the state half-changed across a panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a line; false if the member is now over its bounds (it must be evicted).
    pub fn push(&self, line: Arc<Outgoing>, bounds: &Bounds, now: Instant) -> bool {
        let mut state = self.lock();
        if state.turn == Turn::Closed {
            return true;
        }
        state.outbox.push(line, now);
        !state.outbox.over(bounds, now)
    }

    /// Is the member over its bounds now (the retry thread's check while the room is quiet)?
    /// A socket full for longer than `max_age` with no line waiting counts too: what its
    /// outlet holds back (the end of a cut line, a Pong) has waited that long.
    pub fn over(&self, bounds: &Bounds, now: Instant) -> bool {
        let state = self.lock();
        let full_too_long = state.turn == Turn::Retry
            && state
                .full_since
                .is_some_and(|t| now.saturating_duration_since(t) > bounds.max_age);
        state.turn != Turn::Closed && (state.outbox.over(bounds, now) || full_too_long)
    }

    /// Is it the lane's turn with nothing waiting? Then new lines may go straight to the
    /// transport, and only what it does not take needs the outbox.
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        state.turn == Turn::Lane && state.outbox.is_empty()
    }

    pub fn turn(&self) -> Turn {
        self.lock().turn
    }

    /// Hands `turn` over; returns the turn it had.
    pub fn set_turn(&self, turn: Turn) -> Turn {
        let mut state = self.lock();
        let was = state.turn;
        if was != Turn::Closed {
            state.turn = turn;
        }
        if was == Turn::Lane && turn == Turn::Retry {
            state.full_since = Some(Instant::now());
        }
        was
    }

    /// Offers the waiting lines to `outlet`, as many as it takes now. Called only by the thread
    /// whose `turn` it is; when everything was taken and the turn is `Retry`, it goes back to
    /// `Lane`.
    pub fn offer_to(&self, outlet: &dyn Outlet) -> Offered {
        let mut moved = false;
        loop {
            let lines = self.lock().outbox.peek(MAX_OFFER);
            let taken = match outlet.offer(&lines) {
                Ok(n) => n,
                Err(e) => return Offered::Gone(e.kind()),
            };
            let mut state = self.lock();
            state.outbox.pop(taken);
            moved |= taken > 0;
            if taken < lines.len() || outlet.holds_back() {
                return if moved {
                    Offered::Partial
                } else {
                    Offered::Full
                };
            }
            if state.outbox.is_empty() {
                if state.turn == Turn::Retry {
                    state.turn = Turn::Lane;
                    state.full_since = None;
                }
                return Offered::All;
            }
            // More than one offer's worth was waiting: go on while the socket takes it.
        }
    }

    /// For a transport that pulls: the waiting lines that fit in `budget` bytes, at once.
    pub fn take(&self, budget: usize) -> Vec<Arc<Outgoing>> {
        let mut state = self.lock();
        if state.turn == Turn::Closed {
            return Vec::new();
        }
        state.outbox.take_up_to(budget)
    }

    /// Gives the turn back to the lane if nothing waits (a pulling member that took its lines).
    pub fn release_if_empty(&self) -> bool {
        let mut state = self.lock();
        let free = state.turn == Turn::Retry && state.outbox.is_empty();
        if free {
            state.turn = Turn::Lane;
            state.full_since = None;
        }
        free
    }

    /// Lines waiting now.
    pub fn waiting(&self) -> usize {
        self.lock().outbox.len()
    }
}

/// An outlet over any byte stream (a test double here; the TCP transport's outlet in use).
impl<W: Write + Send> Outlet for StreamOutlet<W> {
    fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
        self.offer_lines(lines)
    }

    fn holds_back(&self) -> bool {
        !self.rest_is_empty()
    }

    fn close(&self, why: &super::Farewell) {
        self.write_last(format!("{}\n", why.notice()).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tests::Tight;
    use crate::ws::frame::FrameHeader;

    fn bounds() -> Bounds {
        Bounds {
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(2),
        }
    }

    fn lines(n: usize) -> Vec<Arc<Outgoing>> {
        (0..n)
            .map(|i| Outgoing::new(format!("line {i} {}", "x".repeat(i % 37))))
            .collect()
    }

    /// Offers every line through `outlet`, opening the tap `per_round` bytes at a time, as a
    /// slow reader would; returns what came out.
    fn deliver(all: &[Arc<Outgoing>], outlet: &StreamOutlet<Tight>, per_round: usize) -> Vec<u8> {
        let mailbox = Mailbox::default();
        let now = Instant::now();
        for line in all {
            assert!(mailbox.push(line.clone(), &bounds(), now));
        }
        for _ in 0..100_000 {
            if mailbox.offer_to(outlet) == Offered::All {
                assert!(outlet.rest_is_empty());
                break;
            }
            outlet.with_stream(|w| w.budget = per_round);
        }
        assert_eq!(mailbox.waiting(), 0);
        outlet.with_stream(|w| std::mem::take(&mut w.out))
    }

    #[test]
    fn three_bytes_a_call_gives_every_line_once_in_order() {
        let all = lines(200);
        let outlet = StreamOutlet::new(Tight::new(3, 0), Outgoing::tcp_bytes);
        let got = deliver(&all, &outlet, 3);
        let want: Vec<u8> = all.iter().flat_map(|l| l.tcp_bytes().to_vec()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn frames_cut_anywhere_come_out_whole_and_in_order() {
        let all = lines(300);
        for (per_call, per_round) in [(7, 5), (1000, 37), (64, 1), (4096, 4096)] {
            let outlet = StreamOutlet::new(Tight::new(per_call, 0), Outgoing::ws_frame);
            let mut got = &deliver(&all, &outlet, per_round)[..];
            for line in &all {
                let (header, len) = FrameHeader::parse(got).unwrap().unwrap();
                let end = len + header.payload_len as usize;
                assert_eq!(&got[len..end], line.line().as_bytes());
                got = &got[end..];
            }
            assert!(got.is_empty(), "bytes after the last frame");
        }
    }

    #[test]
    fn a_transport_that_refuses_for_a_while_loses_nothing() {
        let all = lines(50);
        let mailbox = Mailbox::default();
        let outlet = StreamOutlet::new(Tight::new(usize::MAX, 0), Outgoing::tcp_bytes);
        let now = Instant::now();
        for line in &all[..25] {
            mailbox.push(line.clone(), &bounds(), now);
        }
        for _ in 0..10 {
            assert_eq!(mailbox.offer_to(&outlet), Offered::Full);
        }
        for line in &all[25..] {
            mailbox.push(line.clone(), &bounds(), now);
        }
        outlet.with_stream(|w| w.budget = usize::MAX);
        assert_eq!(mailbox.offer_to(&outlet), Offered::All);
        let want: Vec<u8> = all.iter().flat_map(|l| l.tcp_bytes().to_vec()).collect();
        assert_eq!(outlet.with_stream(|w| std::mem::take(&mut w.out)), want);
    }

    #[test]
    fn half_a_frame_then_nothing_keeps_the_rest_for_later() {
        let line = Outgoing::new("y".repeat(1000));
        let half = line.ws_frame().len() / 2;
        let outlet = StreamOutlet::new(Tight::new(usize::MAX, half), Outgoing::ws_frame);
        let mailbox = Mailbox::default();
        mailbox.push(line.clone(), &bounds(), Instant::now());
        // Taken (half written, half kept by the outlet), so nothing waits in the outbox, but
        // the socket is full ...
        assert_eq!(mailbox.offer_to(&outlet), Offered::Partial);
        assert_eq!(mailbox.waiting(), 0);
        assert!(!outlet.rest_is_empty());
        // ... and the next line waits behind the kept half.
        let next = Outgoing::new("z".into());
        mailbox.push(next.clone(), &bounds(), Instant::now());
        assert_eq!(mailbox.offer_to(&outlet), Offered::Full);
        outlet.with_stream(|w| w.budget = usize::MAX);
        assert_eq!(mailbox.offer_to(&outlet), Offered::All);
        let out = outlet.with_stream(|w| std::mem::take(&mut w.out));
        assert_eq!(out, [line.ws_frame(), next.ws_frame()].concat());
    }

    #[test]
    fn too_many_bytes_or_too_old_a_line_is_over_the_bounds() {
        let small = Bounds {
            max_bytes: 1000,
            max_age: Duration::from_secs(2),
        };
        let mailbox = Mailbox::default();
        let t0 = Instant::now();
        let line = Outgoing::new("a".repeat(300));
        assert!(mailbox.push(line.clone(), &small, t0));
        assert!(mailbox.push(line.clone(), &small, t0));
        assert!(mailbox.push(line.clone(), &small, t0));
        assert!(
            !mailbox.push(line.clone(), &small, t0),
            "1,200 bytes > 1,000"
        );

        let mailbox = Mailbox::default();
        assert!(mailbox.push(line.clone(), &small, t0));
        assert!(!mailbox.over(&small, t0 + Duration::from_secs(2)));
        assert!(mailbox.over(&small, t0 + Duration::from_millis(2001)));
        // Once taken, nothing is old any more.
        mailbox.set_turn(Turn::Retry);
        let outlet = StreamOutlet::new(Tight::new(usize::MAX, usize::MAX), Outgoing::tcp_bytes);
        assert_eq!(mailbox.offer_to(&outlet), Offered::All);
        assert_eq!(mailbox.turn(), Turn::Lane);
        assert!(!mailbox.over(&small, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn a_line_in_ten_thousand_outboxes_is_stored_once() {
        let line = Outgoing::new("shared by everyone".into());
        let boxes: Vec<Mailbox> = (0..10_000).map(|_| Mailbox::default()).collect();
        let now = Instant::now();
        for mailbox in &boxes {
            mailbox.push(line.clone(), &bounds(), now);
        }
        assert_eq!(Arc::strong_count(&line), 10_001);
        let first = boxes[0].take(usize::MAX);
        let last = boxes[9_999].take(usize::MAX);
        assert!(
            Arc::ptr_eq(&first[0], &last[0]),
            "one allocation, not a copy each"
        );
    }

    #[test]
    fn a_poll_takes_what_fits_its_budget_and_always_one_line() {
        let mailbox = Mailbox::default();
        let all = lines(10);
        for line in &all {
            mailbox.push(line.clone(), &bounds(), Instant::now());
        }
        let first_three: usize = all[..3].iter().map(|l| l.size()).sum();
        let got = mailbox.take(first_three);
        assert_eq!(got.len(), 3);
        assert!(Arc::ptr_eq(&got[0], &all[0]));
        assert_eq!(mailbox.take(1).len(), 1, "one line even over the budget");
        assert_eq!(mailbox.take(usize::MAX).len(), 6);
        assert!(mailbox.take(usize::MAX).is_empty());
        mailbox.push(all[0].clone(), &bounds(), Instant::now());
        mailbox.set_turn(Turn::Closed);
        assert!(
            mailbox.take(usize::MAX).is_empty(),
            "nothing after the close"
        );
    }
}
