//! Read receipts: how the server learns, in time, that a member reads what it is sent.
//!
//! TCP tells a sender nothing until the peer's receive buffer *and* the sender's send buffer
//! are full, and Linux grows a send buffer up to `tcp_wmem`'s maximum (4 MB on these
//! machines): a member that never reads is found out only after megabytes, seconds later, and
//! keeps that kernel memory until then. A transport that can ask "have you read up to here?"
//! does better: every [`MARK_EVERY`] bytes it sends a *mark* with the lines (for WebSocket a
//! Ping whose payload is the byte count so far: the client's Pong carries the same payload,
//! and it can only send it once it has read that far, RFC 6455 §5.5.2–3). A mark that waits
//! longer than the write timeout, while the server sat listening and heard nothing at all from
//! the member, means the member does not read: it is evicted like one whose outbox is too old.
//! A mark is a question first: lines keep flowing while it waits, so a burst that an honest
//! client takes a moment to read costs it nothing. A *late* mark ([`HOLD_AFTER`]) leaves the
//! member what is left of one more [`MARK_EVERY`] after it; its other lines wait in its
//! outbox (shared lines, not copies) until it answers. So a member that stopped reading ties
//! up a few hundred KB of kernel memory, not megabytes, and the outbox's bounds evict it. And
//! only silence counts: a member whose reader is busy (held up by the room's backpressure) or
//! that keeps sending may have its answer queued behind its own bytes, and is left to the
//! outbox's bounds. Sans I/O: this counts bytes and time; the outlet writes, the member's reader says when it listens.

use crate::rand::SplitMix64;
use std::time::{Duration, Instant};

/// Bytes between two marks, on average (each gap is drawn from ½ to 1½ of it, so that
/// members who joined together do not all answer in the same millisecond: 1,000 Pongs at once
/// are 1,000 reader threads woken together, a 10 ms stall every mark). At 800 KB/s to one member (scenario 8 of `make bench`) that is
/// about 6 Pings a second, each 10 bytes, and as many Pongs to read.
pub const MARK_EVERY: u64 = 128 * 1024;
/// The first mark comes sooner, before the member's receive window is full: a member that
/// never reads is found out before the kernel starts queueing for it.
pub const FIRST_MARK: u64 = 16 * 1024;
/// What a late mark leaves the member (see [`Receipts::allowance`]).
pub const LATE_ALLOWANCE: u64 = 64 * 1024;
/// How long a mark may wait, in silence, before the member's lines are held back: longer than
/// a busy client on loopback takes to read what is ahead of the Ping, short enough that one
/// that stopped reading gets little more (at 800 KB/s, 32 KB). A client farther away than
/// that (a phone, another continent) only has its lines wait now and then for its answer:
/// with [`LATE_ALLOWANCE`], at a 300 ms round trip, it still gets 200 KB/s.
pub const HOLD_AFTER: Duration = Duration::from_millis(40);

#[derive(Debug)]
pub struct Receipts {
    /// Bytes handed to the transport so far.
    sent: u64,
    /// Bytes from the last mark to the next (the first: [`FIRST_MARK`]).
    gap: u64,
    /// Draws the gaps.
    gaps: SplitMix64,
    /// The mark waiting for its answer (only the latest counts, RFC 6455 §5.5.3) and when it
    /// went out.
    waiting: Option<(u64, Instant)>,
    /// `sent` when the last mark went out.
    marked_at: u64,
    /// The member's reader is handling a frame, not listening for the next one.
    busy: bool,
    /// When the member's reader last got a frame (`None`: never).
    heard: Option<Instant>,
}

impl Receipts {
    /// Receipts whose gaps between marks are drawn from `seed` (one per member).
    pub fn new(seed: u64) -> Receipts {
        Receipts {
            sent: 0,
            gap: FIRST_MARK,
            gaps: SplitMix64::new(seed),
            waiting: None,
            marked_at: 0,
            busy: false,
            heard: None,
        }
    }

    /// The mark to send after `bytes` more, if one is due: the byte count it stands for.
    pub fn mark_due(&self, bytes: u64) -> Option<u64> {
        let after = self.sent + bytes;
        (self.waiting.is_none() && after - self.marked_at >= self.gap).then_some(after)
    }

    /// `bytes` were handed to the transport at `now`, and `mark` with them if it went too.
    pub fn sent(&mut self, bytes: u64, mark: Option<u64>, now: Instant) {
        self.sent += bytes;
        if let Some(mark) = mark {
            self.waiting = Some((mark, now));
            self.marked_at = mark;
            self.gap = MARK_EVERY / 2 + self.gaps.below(MARK_EVERY);
        }
    }

    /// A mark came back. Only the one waiting counts: an unasked-for answer (a keepalive's
    /// Pong, an unsolicited or a forged one) changes nothing.
    pub fn answered(&mut self, mark: u64) -> bool {
        if self.waiting.map(|(waiting, _)| waiting) != Some(mark) {
            return false;
        }
        self.waiting = None;
        true
    }

    /// The member's reader got a frame at `now`, and is busy with it.
    pub fn heard(&mut self, now: Instant) {
        self.heard = Some(now);
        self.busy = true;
    }

    /// The member's reader waits for the next frame.
    pub fn listening(&mut self) {
        self.busy = false;
    }

    /// Has a mark waited longer than `limit`, with the reader listening and nothing heard for
    /// as long? Then the member does not read.
    pub fn overdue(&self, now: Instant, limit: Duration) -> bool {
        let older = |at: Instant| now.saturating_duration_since(at) > limit;
        self.waiting.is_some_and(|(_, since)| older(since))
            && !self.busy
            && self.heard.is_none_or(older)
    }

    /// How many more bytes may go to the member now: `None` (no limit) unless a mark is
    /// [`HOLD_AFTER`] late; then what is left of [`LATE_ALLOWANCE`] after it (maybe 0: hold
    /// every line until the answer comes).
    pub fn allowance(&self, now: Instant) -> Option<u64> {
        let (mark, _) = self.waiting?;
        self.overdue(now, HOLD_AFTER)
            .then(|| (mark + LATE_ALLOWANCE).saturating_sub(self.sent))
    }

    /// A mark as a Ping payload: 8 bytes, big-endian.
    pub fn mark_payload(mark: u64) -> [u8; 8] {
        mark.to_be_bytes()
    }

    /// A Pong payload as a mark, if it is one.
    pub fn mark_of(payload: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(payload.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: u64 = 4096;
    const LIMIT: Duration = Duration::from_secs(2);

    /// Sends one line as an outlet would, with the mark when due.
    fn send(receipts: &mut Receipts, now: Instant) -> Option<u64> {
        let mark = receipts.mark_due(LINE);
        receipts.sent(LINE, mark, now);
        mark
    }

    /// Sends lines until the first mark goes out: that mark.
    fn first_mark(receipts: &mut Receipts, now: Instant) -> u64 {
        (0..100).find_map(|_| send(receipts, now)).expect("a mark")
    }

    #[test]
    fn the_first_mark_comes_early_then_one_about_every_mark_every_bytes_and_one_waits_at_a_time() {
        let mut receipts = Receipts::new(1);
        let now = Instant::now();
        let first = (FIRST_MARK / LINE) as usize;
        let per_mark = (MARK_EVERY / LINE) as usize;
        let marks: Vec<(usize, u64)> = (1..=3 * per_mark)
            .filter_map(|n| send(&mut receipts, now).map(|m| (n, m)))
            .collect();
        assert_eq!(
            marks,
            [(first, FIRST_MARK)],
            "one mark, then none while it waits"
        );
        assert!(receipts.answered(FIRST_MARK));
        // Long after the longest gap: the next mark goes with the next line, and stands for
        // every byte so far.
        assert_eq!(
            send(&mut receipts, now),
            Some((3 * per_mark as u64 + 1) * LINE)
        );
        // Answered at once, many times: each gap is ½ to 1½ MARK_EVERY, about MARK_EVERY on
        // average.
        let mut gaps = Vec::new();
        for _ in 0..200 {
            let mark = receipts.waiting.map(|(m, _)| m).unwrap_or_default();
            assert!(receipts.answered(mark));
            let next = (1..=2 * per_mark)
                .find_map(|_| send(&mut receipts, now))
                .expect("a mark within 1½ MARK_EVERY");
            gaps.push(next - mark);
        }
        assert!(
            gaps.iter()
                .all(|g| (MARK_EVERY / 2..=3 * MARK_EVERY / 2 + LINE).contains(g))
        );
        let mean = gaps.iter().sum::<u64>() / gaps.len() as u64;
        assert!(
            mean.abs_diff(MARK_EVERY) < MARK_EVERY / 8,
            "mean gap {mean}"
        );
    }

    #[test]
    fn members_that_are_sent_the_same_lines_mark_them_at_different_places() {
        let now = Instant::now();
        let marks = |seed| {
            let mut receipts = Receipts::new(seed);
            let mut marks = Vec::new();
            for _ in 0..1_000 {
                if let Some(mark) = send(&mut receipts, now) {
                    receipts.answered(mark);
                    marks.push(mark);
                }
            }
            marks
        };
        let (a, b) = (marks(1), marks(2));
        assert_eq!(a[0], b[0], "the first mark is at FIRST_MARK for everyone");
        assert_ne!(a[1..], b[1..], "then they drift apart");
    }

    #[test]
    fn a_mark_unanswered_for_the_limit_is_overdue_and_an_answer_clears_it() {
        let mut receipts = Receipts::new(1);
        let start = Instant::now();
        let mark = first_mark(&mut receipts, start);
        assert!(
            !receipts.overdue(start + LIMIT, LIMIT),
            "at the limit: not yet"
        );
        assert!(receipts.overdue(start + LIMIT + Duration::from_millis(1), LIMIT));
        assert!(receipts.answered(mark));
        assert!(!receipts.overdue(start + 10 * LIMIT, LIMIT));
    }

    #[test]
    fn a_member_that_keeps_sending_or_waits_on_the_room_is_not_overdue() {
        let mut receipts = Receipts::new(1);
        let start = Instant::now();
        first_mark(&mut receipts, start);
        let late = start + 2 * LIMIT;
        // Its reader is held up by the room (backpressure): its Pong may be queued.
        receipts.heard(late - LIMIT / 2);
        assert!(!receipts.overdue(late, LIMIT), "busy");
        // Listening again, and it sent something half a limit ago.
        receipts.listening();
        assert!(!receipts.overdue(late, LIMIT), "heard from lately");
        assert!(
            receipts.overdue(late + LIMIT, LIMIT),
            "then silent for the limit"
        );
    }

    #[test]
    fn a_late_mark_leaves_the_allowance_then_holds_the_lines_until_answered() {
        let mut receipts = Receipts::new(1);
        let start = Instant::now();
        let mark = first_mark(&mut receipts, start);
        assert_eq!(receipts.allowance(start), None, "in time: no limit");
        send(&mut receipts, start);
        let late = start + HOLD_AFTER + Duration::from_millis(1);
        assert_eq!(
            receipts.allowance(late),
            Some(LATE_ALLOWANCE - LINE),
            "late: what is left of the allowance after the mark"
        );
        let mut more = 0;
        while more < 2 * MARK_EVERY {
            send(&mut receipts, start);
            more += LINE;
        }
        assert_eq!(
            receipts.allowance(start + HOLD_AFTER),
            None,
            "a burst goes on while the mark is in time, however big"
        );
        assert_eq!(
            receipts.allowance(late),
            Some(0),
            "late and past the allowance"
        );
        // Any frame from the member lifts the hold for a while (it may be busy); its answer
        // lifts it for good.
        receipts.heard(late);
        assert_eq!(receipts.allowance(late), None, "heard from");
        receipts.listening();
        assert_eq!(
            receipts.allowance(late + 2 * HOLD_AFTER),
            Some(0),
            "silent again"
        );
        assert!(receipts.answered(mark));
        assert_eq!(receipts.allowance(late + 2 * HOLD_AFTER), None, "answered");
    }

    #[test]
    fn nothing_is_overdue_before_the_first_mark() {
        let mut receipts = Receipts::new(1);
        let start = Instant::now();
        send(&mut receipts, start);
        assert!(!receipts.overdue(start + 10 * LIMIT, LIMIT));
    }

    #[test]
    fn only_the_waiting_mark_counts() {
        let mut receipts = Receipts::new(1);
        let now = Instant::now();
        let mark = first_mark(&mut receipts, now);
        assert!(!receipts.answered(mark + 1), "a forged answer");
        assert!(!receipts.answered(0), "a keepalive's answer");
        assert!(receipts.overdue(now + 2 * LIMIT, LIMIT), "still waiting");
        assert!(receipts.answered(mark));
        assert!(!receipts.answered(mark), "answered twice");
    }

    #[test]
    fn a_mark_round_trips_through_a_ping_payload() {
        let payload = Receipts::mark_payload(123_456_789);
        assert_eq!(Receipts::mark_of(&payload), Some(123_456_789));
        assert_eq!(Receipts::mark_of(b""), None);
        assert_eq!(Receipts::mark_of(b"not a mark"), None);
    }
}
