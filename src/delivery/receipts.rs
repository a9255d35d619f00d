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
//! A mark is a question, not a window: lines keep flowing while it waits, so a burst that an
//! honest client takes a moment to read costs it nothing. And only silence counts: a member
//! whose reader is busy (held up by the room's backpressure) or that keeps sending may have
//! its answer queued behind its own bytes, and is left to the outbox's bounds. Sans I/O: this
//! counts bytes and time; the outlet writes, the member's reader says when it listens.

use std::time::{Duration, Instant};

/// Bytes between two marks. At 800 KB/s to one member (scenario 8 of `make bench`) that is
/// about 6 Pings a second, each 10 bytes, and as many Pongs to read.
pub const MARK_EVERY: u64 = 128 * 1024;

#[derive(Debug, Default)]
pub struct Receipts {
    /// Bytes handed to the transport so far.
    sent: u64,
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
    /// The mark to send after `bytes` more, if one is due: the byte count it stands for.
    pub fn mark_due(&self, bytes: u64) -> Option<u64> {
        let after = self.sent + bytes;
        (self.waiting.is_none() && after - self.marked_at >= MARK_EVERY).then_some(after)
    }

    /// `bytes` were handed to the transport at `now`, and `mark` with them if it went too.
    pub fn sent(&mut self, bytes: u64, mark: Option<u64>, now: Instant) {
        self.sent += bytes;
        if let Some(mark) = mark {
            self.waiting = Some((mark, now));
            self.marked_at = mark;
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

    #[test]
    fn a_mark_goes_every_mark_every_bytes_and_one_waits_at_a_time() {
        let mut receipts = Receipts::default();
        let now = Instant::now();
        let per_mark = (MARK_EVERY / LINE) as usize;
        let marks: Vec<(usize, u64)> = (1..=3 * per_mark)
            .filter_map(|n| send(&mut receipts, now).map(|m| (n, m)))
            .collect();
        assert_eq!(
            marks,
            [(per_mark, MARK_EVERY)],
            "one mark, then none while it waits"
        );
        assert!(receipts.answered(MARK_EVERY));
        // Long after MARK_EVERY more bytes: the next mark goes with the next line, and stands
        // for every byte so far.
        assert_eq!(
            send(&mut receipts, now),
            Some((3 * per_mark as u64 + 1) * LINE)
        );
        let mark = receipts.waiting.map(|(m, _)| m).unwrap_or_default();
        assert!(receipts.answered(mark));
        // Answered at once: the next one MARK_EVERY later.
        let next = (1..=per_mark).find_map(|n| send(&mut receipts, now).map(|m| (n, m)));
        assert_eq!(next, Some((per_mark, mark + MARK_EVERY)));
    }

    #[test]
    fn a_mark_unanswered_for_the_limit_is_overdue_and_an_answer_clears_it() {
        let mut receipts = Receipts::default();
        let start = Instant::now();
        let mark = (0..100)
            .find_map(|_| send(&mut receipts, start))
            .expect("a mark");
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
        let mut receipts = Receipts::default();
        let start = Instant::now();
        (0..100)
            .find_map(|_| send(&mut receipts, start))
            .expect("a mark");
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
    fn nothing_is_overdue_before_the_first_mark() {
        let mut receipts = Receipts::default();
        let start = Instant::now();
        send(&mut receipts, start);
        assert!(!receipts.overdue(start + 10 * LIMIT, LIMIT));
    }

    #[test]
    fn only_the_waiting_mark_counts() {
        let mut receipts = Receipts::default();
        let now = Instant::now();
        let mark = (0..100)
            .find_map(|_| send(&mut receipts, now))
            .expect("a mark");
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
