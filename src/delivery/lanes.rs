//! The writer lanes: a few threads that do every write to every member (the thread budget).
//!
//! Each member has ONE thread of its own, its reader. Writes are shared out over a small pool,
//! member `id` always on lane `id % lanes`. A lane pushes each line into the member's outbox
//! and offers the outbox to the member's socket, which takes what fits in its send buffer
//! *now* (every outlet with a socket writes non-blocking, `wire::without_waiting`). A member
//! whose socket is full costs the lane that one short write; from then on the retry thread
//! offers its outbox, with growing pauses, until the socket takes everything again (then it
//! is the lane's once more) or the outbox goes over its bounds (then the member is evicted).
//! So no member waits on another, and the hub waits on a lane only when the lanes are out of
//! CPU.

use super::outbox::{Bounds, Mailbox, Offered, Turn};
use super::{Farewell, MemberId, Outgoing, Outlet};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The write timeout of every member socket, for the writes that are not a lane's
/// non-blocking ones (a reader's Pong, a Socket.IO session's own packets): one that finds the
/// send buffer full returns after one kernel tick (8 ms here) instead of waiting for the peer.
/// Linux rounds any timeout up to a tick, so asking for less costs nothing; zero would mean
/// "no timeout at all".
pub const SHORT_WRITE: Duration = Duration::from_micros(1);
/// Broadcasts already queued behind one another are pushed and offered to a member in one go,
/// up to this many (a join storm of 10,000 members is millions of notice deliveries: batching
/// makes them a few hundred thousand system calls).
const MAX_BATCH: usize = 256;
/// Jobs waiting for one lane. A lane never waits on a member, so a full queue means the lanes
/// are out of CPU; then the hub, and through it the readers, slow down (backpressure).
const LANE_CAPACITY: usize = 1024;
/// The retry thread's first pause before offering a full member's outbox again, and its
/// longest (the pause doubles while the socket takes nothing, and starts again when it takes
/// something).
const RETRY_FIRST: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_millis(200);
/// How often the retry thread looks at the ages of waiting lines: the eviction of a member
/// that stopped reading comes at most this late.
const AGE_CHECK: Duration = Duration::from_millis(100);

pub(crate) enum Job {
    Add(Member),
    /// One line to every member of the lane.
    Broadcast(Arc<Outgoing>),
    /// One line to one member.
    To(MemberId, Arc<Outgoing>),
    /// The member's outlet holds bytes back (its reader queued a reply), or its lines waited
    /// for a read receipt that has come: offer again now, whichever thread has its turn.
    Flush(MemberId),
    /// Forget a member, saying goodbye first if there is a farewell.
    Remove(MemberId, Option<Farewell>),
}

/// What the delivery threads hold of one member.
#[derive(Clone)]
pub(crate) struct Member {
    pub id: MemberId,
    pub outlet: Arc<dyn Outlet>,
    pub mailbox: Arc<Mailbox>,
}

/// A member the delivery threads dropped.
pub(crate) struct Eviction {
    pub id: MemberId,
    /// Its outbox went over its bounds (rather than: its socket failed, it is gone).
    pub too_slow: bool,
}

pub(crate) struct WriterPool {
    lanes: Vec<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    retry: Option<Sender<Member>>,
}

impl WriterPool {
    pub fn start(
        lanes: usize,
        bounds: Bounds,
        evictions: Sender<Eviction>,
    ) -> io::Result<WriterPool> {
        let (retry, stuck) = crossbeam_channel::unbounded();
        let mut pool = WriterPool {
            lanes: Vec::new(),
            threads: Vec::new(),
            retry: Some(retry.clone()),
        };
        let evicted = evictions.clone();
        pool.threads.push(
            thread::Builder::new()
                .name("writer-retry".into())
                .spawn(move || retry_loop(stuck, bounds, evicted))?,
        );
        for n in 0..lanes.max(1) {
            let (tx, rx) = crossbeam_channel::bounded(LANE_CAPACITY);
            let lane = Lane {
                members: HashMap::new(),
                bounds,
                retry: retry.clone(),
                evictions: evictions.clone(),
            };
            let thread = thread::Builder::new()
                .name(format!("writer-{n}"))
                .spawn(move || lane.run(rx))?;
            pool.lanes.push(tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    fn lane(&self, id: MemberId) -> &Sender<Job> {
        &self.lanes[(id % self.lanes.len() as u64) as usize]
    }

    pub fn add(&self, member: Member) {
        let _ = self.lane(member.id).send(Job::Add(member));
    }

    pub fn to(&self, id: MemberId, line: &Arc<Outgoing>) {
        let _ = self.lane(id).send(Job::To(id, line.clone()));
    }

    pub fn flush(&self, id: MemberId) {
        let _ = self.lane(id).send(Job::Flush(id));
    }

    pub fn remove(&self, id: MemberId, farewell: Option<Farewell>) {
        let _ = self.lane(id).send(Job::Remove(id, farewell));
    }

    pub fn broadcast(&self, line: &Arc<Outgoing>) {
        for lane in &self.lanes {
            let _ = lane.send(Job::Broadcast(line.clone()));
        }
    }

    /// Lets every lane finish its queue, then joins the threads.
    pub fn stop(mut self) {
        self.lanes.clear();
        self.retry = None;
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct Lane {
    members: HashMap<MemberId, Member>,
    bounds: Bounds,
    retry: Sender<Member>,
    evictions: Sender<Eviction>,
}

impl Lane {
    fn run(mut self, jobs: Receiver<Job>) {
        let mut batch: Vec<Arc<Outgoing>> = Vec::new();
        // Members who left between the broadcasts of the batch: how many of its lines each
        // still gets, and its goodbye.
        let mut leaving: HashMap<MemberId, (usize, Option<Farewell>)> = HashMap::new();
        let mut next = jobs.recv().ok();
        while let Some(job) = next.take() {
            match job {
                Job::Broadcast(line) => {
                    batch.push(line);
                    // A leave does not end the batch: 100 members evicted at once are 100
                    // notices with a leave between each two, and a batch cut at every leave
                    // would be one write per notice to every member.
                    while batch.len() < MAX_BATCH && leaving.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(Job::Broadcast(line)) => batch.push(line),
                            Ok(Job::Remove(id, farewell)) => {
                                leaving.entry(id).or_insert((batch.len(), farewell));
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.deliver_all(&batch, &leaving);
                    for (id, (_, farewell)) in leaving.drain() {
                        self.remove(id, farewell);
                    }
                    batch.clear();
                }
                Job::To(id, line) => self.deliver(id, std::slice::from_ref(&line)),
                Job::Flush(id) => self.flush(id),
                Job::Add(member) => {
                    self.members.insert(member.id, member);
                }
                Job::Remove(id, farewell) => self.remove(id, farewell),
            }
            if next.is_none() {
                next = jobs.recv().ok();
            }
        }
    }

    /// Forgets a member, saying goodbye first if there is a farewell.
    fn remove(&mut self, id: MemberId, farewell: Option<Farewell>) {
        if let Some(member) = self.members.remove(&id) {
            member.mailbox.set_turn(Turn::Closed);
            if let Some(farewell) = farewell {
                member.outlet.close(&farewell);
            }
        }
    }

    /// Offers a member's outbox again now: the lane itself, or, if the retry thread has the
    /// turn, the retry thread without its pause.
    fn flush(&mut self, id: MemberId) {
        match self.members.get(&id) {
            Some(member) if member.mailbox.turn() == Turn::Retry => {
                let _ = self.retry.send(member.clone());
            }
            Some(_) => self.deliver(id, &[]),
            None => {}
        }
    }

    /// Pushes `lines` into a member's outbox and, if it is the lane's turn, offers them.
    fn deliver(&mut self, id: MemberId, lines: &[Arc<Outgoing>]) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        if let Some(too_slow) = offer(member, lines, &self.bounds, &self.retry) {
            self.evict(id, too_slow);
        }
    }

    /// Every member of the lane gets `lines` (a leaving member only those said before it
    /// left); those that must go are evicted afterwards.
    fn deliver_all(
        &mut self,
        lines: &[Arc<Outgoing>],
        leaving: &HashMap<MemberId, (usize, Option<Farewell>)>,
    ) {
        let evicted: Vec<(MemberId, bool)> = self
            .members
            .values()
            .filter_map(|m| {
                let lines = match leaving.get(&m.id) {
                    Some(&(before, _)) => &lines[..before],
                    None => lines,
                };
                if lines.is_empty() {
                    return None;
                }
                offer(m, lines, &self.bounds, &self.retry).map(|slow| (m.id, slow))
            })
            .collect();
        for (id, too_slow) in evicted {
            self.evict(id, too_slow);
        }
    }

    fn evict(&mut self, id: MemberId, too_slow: bool) {
        if let Some(member) = self.members.remove(&id)
            && evict(&member, too_slow, &self.evictions)
        {
            // Its goodbye is a write to a socket that is likely full: the retry thread says
            // it, so that this lane's other members do not wait for it.
            let _ = self.retry.send(member);
        }
    }
}

/// Hands `lines` to one member: straight to its socket if nothing waits, else through its
/// outbox; a full socket passes the member to the retry thread. `Some(too_slow)`: evict it.
fn offer(
    member: &Member,
    lines: &[Arc<Outgoing>],
    bounds: &Bounds,
    retry: &Sender<Member>,
) -> Option<bool> {
    let now = Instant::now();
    if member.outlet.overdue(now) {
        return Some(true);
    }
    if !member.outlet.pulls() && member.mailbox.is_idle() {
        // The common case: nothing waits, so the lines go straight to the socket, and only
        // what it does not take now goes into the outbox.
        let taken = match member.outlet.offer(lines) {
            Ok(n) if n == lines.len() && !member.outlet.holds_back() => return None,
            Ok(n) => n,
            Err(_) => return Some(false),
        };
        // The socket is full: offering again now would only wait another tick. The rest
        // waits in the outbox, and the retry thread offers it later.
        for line in &lines[taken..] {
            if !member.mailbox.push(line.clone(), bounds, now) {
                return Some(true);
            }
        }
        member.mailbox.set_turn(Turn::Retry);
        let _ = retry.send(member.clone());
        return None;
    }
    for line in lines {
        if !member.mailbox.push(line.clone(), bounds, now) {
            return Some(true);
        }
    }
    if member.outlet.pulls() {
        // Its request thread takes the lines; the retry thread watches their age.
        member.outlet.wake();
        if member.mailbox.set_turn(Turn::Retry) == Turn::Lane {
            let _ = retry.send(member.clone());
        }
        return None;
    }
    if member.mailbox.turn() != Turn::Lane {
        return None;
    }
    match member.mailbox.offer_to(&*member.outlet) {
        Offered::All => None,
        Offered::Partial | Offered::Full => {
            member.mailbox.set_turn(Turn::Retry);
            let _ = retry.send(member.clone());
            None
        }
        Offered::Gone(_) => Some(false),
    }
}

/// Tells the hub that the member is evicted, and closes its outbox; `true` if it was not
/// closed already, and must now be closed ([`close`]). The hub hears it first: closing wakes
/// the member's reader, whose "left" must not overtake the reason.
fn evict(member: &Member, too_slow: bool, evictions: &Sender<Eviction>) -> bool {
    if member.mailbox.set_turn(Turn::Closed) == Turn::Closed {
        return false;
    }
    let _ = evictions.send(Eviction {
        id: member.id,
        too_slow,
    });
    true
}

/// Says goodbye where the socket still takes it, and closes the transport, which tells it the
/// member is gone (its reader wakes; a UDP peer's next datagram joins it anew). A transport
/// may leave the connection half open for a while ([`Outlet::end`]): the member is added to
/// `closing`, to be ended at `linger_until`.
fn close(member: Member, closing: &mut Vec<(Member, Instant)>, linger_until: Instant) {
    member.outlet.close(&Farewell::TooSlow);
    closing.push((member, linger_until));
}

/// A member whose socket was full, and when to offer it its outbox again.
struct Stuck {
    member: Member,
    next_try: Instant,
    pause: Duration,
}

/// The retry thread: offers full members' outboxes again, with pauses that double while the
/// socket stays full (so a room of stalled members costs little CPU), and evicts a member
/// whose outbox goes over its bounds even while the room is quiet.
fn retry_loop(new: Receiver<Member>, bounds: Bounds, evictions: Sender<Eviction>) {
    let mut stuck: Vec<Stuck> = Vec::new();
    // Evicted members whose connections are ended when their goodbye has had time to be read.
    let mut closing: Vec<(Member, Instant)> = Vec::new();
    let mut last_age_check = Instant::now();
    loop {
        let now = Instant::now();
        let wake = stuck
            .iter()
            .filter(|s| !s.member.outlet.pulls())
            .map(|s| s.next_try)
            .chain(closing.iter().map(|(_, until)| *until))
            .min()
            .unwrap_or(now + AGE_CHECK)
            .min(last_age_check + AGE_CHECK);
        match new.recv_timeout(wake.saturating_duration_since(now)) {
            // A lane evicted it: its goodbye is said here.
            Ok(member) if member.mailbox.turn() == Turn::Closed => {
                close(member, &mut closing, Instant::now() + bounds.max_age)
            }
            // Already here: a flush, to be offered again now.
            Ok(member) => match stuck.iter_mut().find(|s| s.member.id == member.id) {
                Some(s) => {
                    s.next_try = Instant::now();
                    s.pause = RETRY_FIRST;
                }
                None if member.mailbox.turn() == Turn::Retry => stuck.push(Stuck {
                    member,
                    next_try: Instant::now() + RETRY_FIRST,
                    pause: RETRY_FIRST,
                }),
                // The lane had it back before the flush came.
                None => {}
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Shutting down: the lanes are gone; give the rest one last chance.
                for s in stuck.iter().filter(|s| !s.member.outlet.pulls()) {
                    let _ = s.member.mailbox.offer_to(&*s.member.outlet);
                }
                for (member, _) in closing {
                    member.outlet.end();
                }
                return;
            }
        }
        let now = Instant::now();
        let linger_until = now + bounds.max_age;
        closing.retain(|(member, until)| {
            let due = *until <= now;
            if due {
                member.outlet.end();
            }
            !due
        });
        if now >= last_age_check + AGE_CHECK {
            last_age_check = now;
            stuck.retain(|s| {
                let mailbox = &s.member.mailbox;
                if mailbox.turn() != Turn::Retry {
                    return false;
                }
                if mailbox.over(&bounds, now) || s.member.outlet.overdue(now) {
                    if evict(&s.member, true, &evictions) {
                        close(s.member.clone(), &mut closing, linger_until);
                    }
                    return false;
                }
                // A pulling member whose lines were all taken is the lane's again.
                !(s.member.outlet.pulls() && mailbox.release_if_empty())
            });
        }
        stuck.retain_mut(|s| {
            if s.member.outlet.pulls() || s.next_try > now {
                return true;
            }
            match s.member.mailbox.offer_to(&*s.member.outlet) {
                Offered::All => false,
                // It reads, just not as fast as the room talks: come back soon.
                Offered::Partial => {
                    s.pause = RETRY_FIRST;
                    s.next_try = Instant::now() + s.pause;
                    true
                }
                Offered::Full => {
                    s.pause = (s.pause * 2).min(RETRY_MAX);
                    s.next_try = Instant::now() + s.pause;
                    true
                }
                Offered::Gone(_) => {
                    if evict(&s.member, false, &evictions) {
                        close(s.member.clone(), &mut closing, linger_until);
                    }
                    false
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// An outlet that records each offer as the lines it was given, and its farewell; its
    /// first offer may say it began and then wait for go (so that jobs queue up behind it).
    #[derive(Default)]
    struct Recorder {
        offers: Mutex<Vec<Vec<String>>>,
        farewell: Mutex<Option<Farewell>>,
        hold_first: Mutex<Option<(Sender<()>, Receiver<()>)>>,
    }

    impl Outlet for Recorder {
        fn offer(&self, lines: &[Arc<Outgoing>]) -> io::Result<usize> {
            let hold = self.hold_first.lock().map(|mut h| h.take()).ok().flatten();
            if let Some((began, go)) = hold {
                let _ = began.send(());
                let _ = go.recv_timeout(Duration::from_secs(10));
            }
            let texts = lines.iter().map(|l| l.line().to_string()).collect();
            self.offers.lock().map(|mut o| o.push(texts)).ok();
            Ok(lines.len())
        }

        fn close(&self, why: &Farewell) {
            self.farewell
                .lock()
                .map(|mut f| *f = Some(why.clone()))
                .ok();
        }
    }

    fn member(id: MemberId, outlet: &Arc<Recorder>) -> Member {
        Member {
            id,
            outlet: outlet.clone(),
            mailbox: Arc::new(Mailbox::default()),
        }
    }

    #[test]
    fn a_leave_between_broadcasts_neither_cuts_the_batch_nor_gets_later_lines() {
        let bounds = Bounds {
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(2),
        };
        let (evictions, _evicted) = crossbeam_channel::unbounded();
        let pool = WriterPool::start(1, bounds, evictions).expect("writer threads");
        let (go, held) = crossbeam_channel::bounded(1);
        let (began, offering) = crossbeam_channel::bounded(1);
        let stays = Arc::new(Recorder {
            hold_first: Mutex::new(Some((began, held))),
            ..Recorder::default()
        });
        let leaves = Arc::new(Recorder::default());
        pool.add(member(1, &stays));
        pool.add(member(2, &leaves));
        let line = |text: &str| Outgoing::new(text.to_string());
        // The lane holds on its first offer; meanwhile a line, a leave and a line queue up.
        pool.broadcast(&line("first"));
        offering
            .recv_timeout(Duration::from_secs(10))
            .expect("the lane offers the first line");
        pool.broadcast(&line("before the leave"));
        pool.remove(2, Some(Farewell::Quit));
        pool.broadcast(&line("after the leave"));
        go.send(()).expect("the lane waits for go");
        pool.stop();

        let offers = |r: &Recorder| r.offers.lock().map(|o| o.clone()).unwrap_or_default();
        assert_eq!(
            offers(&stays),
            [vec!["first"], vec!["before the leave", "after the leave"]],
            "the member who stays gets the two queued lines in one offer"
        );
        let left = offers(&leaves);
        assert_eq!(
            left.concat(),
            ["first", "before the leave"],
            "the member who left gets what was said before it left, and nothing after"
        );
        assert_eq!(
            leaves.farewell.lock().map(|f| f.clone()).ok().flatten(),
            Some(Farewell::Quit)
        );
    }
}
