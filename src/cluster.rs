//! The cluster link: one room shared by many `plainsock serve` processes through one Redis.
//!
//! ```text
//!  members → process A ─┐ XADD              XREAD BLOCK ┌→ process A → its members
//!  members → process B ─┼──────→ Redis stream ──────────┼→ process B → its members
//!  members → process C ─┘   plainsock:{room}:stream     └→ process C → its members
//! ```
//!
//! Redis is the sequencer: every line said anywhere is appended to one stream (`XADD … MAXLEN ~
//! N`), and every process delivers only what it reads back, its own lines included, so every
//! member everywhere sees one order. This module knows nothing of the hub; it moves entries
//! (lists of `field = value` strings) and keeps presence. How the hub is meant to use it:
//!
//! 1. At start, [`Link::open`]. It fails (in one line, naming the address and the OS error) if
//!    Redis cannot be reached. The first event is [`LinkEvent::History`]: the stream's last
//!    entries, for the hub's history of newcomers.
//! 2. Where the hub broadcasts a line today, it calls [`Link::publish`] instead, and broadcasts
//!    only what arrives as [`LinkEvent::Entry`] (its own lines included, in stream order). A
//!    `publish` refused with [`NotDelivered`] (the queue for a long outage is full), or a
//!    [`LinkEvent::NotDelivered`], is the sender's to hear about: "your line was not delivered".
//! 3. A member joins: [`Link::claim_guest`] for its `guest-N` (unique across processes), then
//!    [`Link::join`] with a short `info` (e.g. its transport), then publish the join notice.
//!    `/nick`: [`Link::claim_nick`]. Leaves: [`Link::leave`], then publish the notice.
//!    `/who`: [`Link::roster`].
//! 4. [`LinkEvent::Gone`]: a member of a process that vanished (kill -9, a lost machine): the
//!    hub announces it as left. Exactly one process publishes that news into the stream, so it
//!    too comes in one order, once. (A `Gone` naming this very process means it was reaped
//!    after a stall longer than the TTL; [`LinkEvent::Reregistered`] follows, and the hub may
//!    announce those members again.)
//! 5. [`LinkEvent::LinkLost`] / [`LinkEvent::LinkBack`]: tell the members
//!    `* cluster link lost; reconnecting` / `* cluster link back`. Nothing is to be done
//!    otherwise: the link reconnects with backoff and catches up from the last id it delivered.
//! 6. At shutdown, [`Link::close`]: lines already accepted are appended first (within one
//!    timeout), members still joined are reported gone, this process's keys are removed.
//!
//! The synchronous calls (`claim_guest`, `claim_nick`, `roster`) are one or a few round trips
//! (about 0.1 ms each on a unix socket), and fail at once while the link is down
//! ([`Link::is_up`]), so the hub thread is held at most a couple of timeouts
//! ([`LinkConfig::timeout`]) by a Redis that stops answering mid-call.
//!
//! What is promised, and what is not:
//! - **One order, no loss, no duplicate** across a lost link: the reader resumes `XREAD` from the
//!   last id it delivered; a line published while the link is down waits in a bounded queue
//!   ([`LinkConfig::queue`]) and is appended after the reconnect, in the order it was said (so it
//!   takes its place in the stream after whatever others said meanwhile). A line whose `XADD`
//!   was in flight when the link broke is looked for in the stream before it is sent again
//!   (each entry carries its process id `_p` and a sequence number `_s`), so it is not doubled;
//!   and should it be appended twice anyway (a Redis that restarted took the first copy's
//!   proof with it), every reader skips a sequence number it already delivered for that process.
//!   Past the queue's bound, `publish` refuses at once: the sender is told, nothing is dropped
//!   silently.
//! - **If Redis itself dies** (with persistence off, as in the tests): entries it had not yet
//!   handed to a process are lost with it, and so are presence, nicks and the guest counter.
//!   After the restart every link writes its own members and nicks back; [`LinkEvent::LinkBack`]
//!   says `gap: true` when the entry last delivered is no longer in the stream (Redis restarted,
//!   or the stream was trimmed past it while the link was down), so the hub can say so.
//! - **Presence**: each process refreshes `plainsock:{room}:proc:{id}` with a TTL
//!   ([`LinkConfig::presence_ttl`]); a process whose key expired is reaped by one of the others
//!   (in one WATCH/MULTI/EXEC transaction, so once, and never over a process that came back)
//!   within about TTL + one refresh.
//!   A process cut off from Redis for longer than the TTL cannot be told from a dead one: the
//!   others report its members gone; when its link is back it gets
//!   [`LinkEvent::Reregistered`], its members are in the roster again, and the lines they said
//!   meanwhile arrive (queued). The TTL is the trade: how fast a kill -9 is noticed against how
//!   long a cut is forgiven.
//!
//! Keys (the `{room}` braces are a Redis Cluster hash tag: one room, one slot):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `plainsock:{room}:stream` | stream | the room's lines, `MAXLEN ~` [`LinkConfig::max_len`] |
//! | `plainsock:{room}:procs` | set | process ids believed alive |
//! | `plainsock:{room}:proc:{id}` | string, TTL | "this process is alive" |
//! | `plainsock:{room}:members:{id}` | hash | member → info, one hash per process |
//! | `plainsock:{room}:nicks` | hash | nick → `{process}/{member}` (guest-N included) |
//! | `plainsock:{room}:guests` | integer | the last guest number given out |
//!
//! Threads: a reader (its own connection, blocked in `XREAD BLOCK`), a worker (its own
//! connection: appends, presence, reaping) and, for the hub's few synchronous questions
//! (guest numbers, nicks, the roster), a third connection used under a lock.

use crate::resp::{Closer, Connection, Error, RedisUrl, Reply};
use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How a [`Link`] behaves.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub url: RedisUrl,
    /// The room's name: its keys are `plainsock:{room}:…` ([`check_room`] says which names).
    pub room: String,
    /// Entries handed over at start as [`LinkEvent::History`].
    pub history: usize,
    /// The stream keeps about this many entries (`XADD … MAXLEN ~`).
    pub max_len: usize,
    /// A process that has not refreshed its presence key for this long is gone ...
    pub presence_ttl: Duration,
    /// ... and each refreshes it this often (and looks for the gone).
    pub refresh: Duration,
    /// Lines held while Redis cannot be reached; over this, `publish` refuses.
    pub queue: usize,
    /// Wait this long for a connection, and for any reply except `XREAD BLOCK`'s.
    pub timeout: Duration,
    /// How long one `XREAD BLOCK` waits for news (the reader also looks at its stop flag
    /// between two of them).
    pub block: Duration,
    /// The first reconnect waits this long, each next one twice as long, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl LinkConfig {
    pub fn new(url: RedisUrl, room: &str) -> LinkConfig {
        LinkConfig {
            url,
            room: room.to_string(),
            history: 20,
            max_len: 10_000,
            presence_ttl: Duration::from_secs(5),
            refresh: Duration::from_millis(1500),
            queue: 10_000,
            timeout: Duration::from_secs(2),
            block: Duration::from_secs(1),
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Room names: 1 to 64 of `A-Z a-z 0-9 - _ .`, so keys and client names need no quoting.
pub fn check_room(name: &str) -> Result<(), String> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if name.is_empty() || name.len() > 64 || !name.bytes().all(ok) {
        return Err(format!(
            "bad room name {name:?}: 1 to 64 letters, digits, '-', '_' or '.'"
        ));
    }
    Ok(())
}

/// Connects and sends PING: the start-up check of `plainsock serve --cluster`. The error is one
/// line naming the address and the OS's reason.
pub fn reach(url: &RedisUrl, timeout: Duration) -> Result<(), String> {
    connect(url, timeout, None).map(drop)
}

fn connect(url: &RedisUrl, timeout: Duration, name: Option<&str>) -> Result<Connection, String> {
    let mut conn =
        Connection::open(url, timeout).map_err(|e| format!("cannot reach Redis at {url}: {e}"))?;
    match conn.command(&["PING"]) {
        Ok(Reply::Simple(pong)) if pong == "PONG" => {}
        Ok(other) => return Err(format!("{url} answered PING with {other:?}: is it Redis?")),
        Err(e) => return Err(format!("Redis at {url} did not answer PING: {e}")),
    }
    if let Some(name) = name {
        // CLIENT SETNAME: `CLIENT LIST` then shows which process and thread a link is.
        conn.command(&["CLIENT", "SETNAME", name])
            .map_err(|e| format!("Redis at {url}: CLIENT SETNAME: {e}"))?;
    }
    Ok(conn)
}

/// A stream entry id, `MS-SEQ` (milliseconds, then a counter within the millisecond).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub fn parse(text: &str) -> Option<StreamId> {
        let (ms, seq) = text.split_once('-')?;
        Some(StreamId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One line of the room as the stream holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: StreamId,
    /// The process that published it.
    pub from: String,
    /// The publisher's fields, in order (the link's own `_` fields left out).
    pub fields: Vec<(String, String)>,
}

impl Entry {
    /// The first value of a field.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the link tells the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// First event: the stream's last entries, oldest first.
    History(Vec<Entry>),
    /// The room's next line, in stream order.
    Entry(Entry),
    /// A member of a vanished process; comes in stream order, once for the whole room.
    Gone {
        process: String,
        member: String,
        nick: Option<String>,
        info: String,
    },
    /// A line accepted by `publish` that Redis refused to append (its error message).
    NotDelivered {
        fields: Vec<(String, String)>,
        why: String,
    },
    /// The reader lost Redis (the reason); it reconnects by itself.
    LinkLost(String),
    /// The reader is back and catching up. `gap`: the last entry delivered is no longer in the
    /// stream, so entries may have been lost (Redis restarted, or trimmed while down).
    LinkBack { gap: bool },
    /// Redis had forgotten this process (restarted, or reaped it after a long stall): the link
    /// wrote its members and nicks back. Others may have been told they were gone.
    Reregistered,
    /// After a Redis restart, this member's nick had been taken by another process meanwhile.
    NickLost { member: String, nick: String },
}

/// A line `publish` could not take.
#[derive(Debug, PartialEq, Eq)]
pub struct NotDelivered {
    pub fields: Vec<(String, String)>,
    pub why: &'static str,
}

/// Someone in the room, from [`Link::roster`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Present {
    pub process: String,
    pub member: String,
    pub nick: Option<String>,
    pub info: String,
}

struct Keys {
    prefix: String,
    stream: String,
    procs: String,
    nicks: String,
    guests: String,
}

impl Keys {
    fn new(room: &str) -> Keys {
        let prefix = format!("plainsock:{{{room}}}");
        Keys {
            stream: format!("{prefix}:stream"),
            procs: format!("{prefix}:procs"),
            nicks: format!("{prefix}:nicks"),
            guests: format!("{prefix}:guests"),
            prefix,
        }
    }
    fn alive(&self, process: &str) -> String {
        format!("{}:proc:{process}", self.prefix)
    }
    fn members(&self, process: &str) -> String {
        format!("{}:members:{process}", self.prefix)
    }
}

/// This process's members and nicks, as it knows them: the truth that is written back to Redis
/// after Redis forgot it.
#[derive(Default)]
struct Registry {
    members: HashMap<String, String>,
    nick_of: HashMap<String, String>,
    /// Members whose entry in Redis is to be written or removed.
    dirty: HashSet<String>,
    /// Nicks to give back: (nick, owner value).
    released: Vec<(String, String)>,
}

struct Shared {
    id: String,
    config: LinkConfig,
    keys: Keys,
    registry: Mutex<Registry>,
    stopping: AtomicBool,
    /// The reader's view: false between LinkLost and LinkBack.
    up: AtomicBool,
    /// The worker's: false from a broken connection until this process's members and nicks
    /// are written back (so no guest number is handed out before the old ones are known).
    synced: AtomicBool,
    /// Test-only: presence is not refreshed (a stall, as the others see it).
    presence_paused: AtomicBool,
    /// The sockets to close so the threads wake at once when the link closes.
    closers: Mutex<HashMap<&'static str, Closer>>,
    events: Sender<LinkEvent>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn owner(&self, member: &str) -> String {
        format!("{}/{member}", self.id)
    }

    /// A connection for one of the link's threads, named after it in `CLIENT LIST`.
    fn connect(&self, role: &'static str) -> Result<Connection, String> {
        let name = format!("plainsock-{}-{}-{role}", self.config.room, self.id);
        let conn = connect(&self.config.url, self.config.timeout, Some(&name))?;
        if let Ok(closer) = conn.closer() {
            lock(&self.closers).insert(role, closer);
        }
        Ok(conn)
    }

    /// Hands an event to the hub; gives up only if the link stops or the hub is gone.
    fn emit(&self, mut event: LinkEvent) -> bool {
        loop {
            match self.events.send_timeout(event, Duration::from_millis(100)) {
                Ok(()) => return true,
                Err(SendTimeoutError::Timeout(e)) if !self.stopping.load(Ordering::Relaxed) => {
                    event = e
                }
                Err(_) => return false,
            }
        }
    }
}

enum Op {
    /// A line; its sequence number is given when the worker takes it, so the numbers are in
    /// the order of the appends whichever threads publish.
    Publish(Vec<(String, String)>),
    /// The registry changed.
    Nudge,
    /// Append what came before, then stop.
    Close,
}

/// One process's link to the room. See the module documentation for how the hub uses it.
pub struct Link {
    shared: Arc<Shared>,
    ops: Sender<Op>,
    /// Dropped on close: wakes the threads' waits at once.
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    requests: Mutex<Option<Connection>>,
    /// Disconnected when the worker thread ends.
    worker_done: Receiver<()>,
    /// On close, reap our own entries (false after [`Link::crash`]).
    tidy: bool,
}

impl Link {
    /// Connects (failing if Redis cannot be reached), registers this process, and starts the
    /// reader and worker threads. The events' first is [`LinkEvent::History`].
    pub fn open(config: LinkConfig) -> Result<(Link, Receiver<LinkEvent>), String> {
        check_room(&config.room)?;
        let (events_tx, events) = crossbeam_channel::bounded(4096);
        let id = format!("{:012x}", crate::rand::random_u64() & 0xffff_ffff_ffff);
        let shared = Arc::new(Shared {
            keys: Keys::new(&config.room),
            id,
            config,
            registry: Mutex::new(Registry::default()),
            stopping: AtomicBool::new(false),
            up: AtomicBool::new(true),
            synced: AtomicBool::new(true),
            presence_paused: AtomicBool::new(false),
            closers: Mutex::new(HashMap::new()),
            events: events_tx,
        });
        let mut worker_conn = shared.connect("worker")?;
        let mut reader_conn = shared.connect("reader")?;
        let url = &shared.config.url;
        register(&shared, &mut worker_conn).map_err(|e| format!("Redis at {url}: {e}"))?;
        let (history, last) =
            history(&shared, &mut reader_conn).map_err(|e| format!("Redis at {url}: {e}"))?;
        shared.emit(LinkEvent::History(history));

        let (ops_tx, ops_rx) = crossbeam_channel::bounded(shared.config.queue.max(1));
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let mut threads = Vec::new();
        let reader = Reader {
            shared: shared.clone(),
            stop: stop_rx.clone(),
            last,
            delivered: HashMap::new(),
        };
        let spawn = |name: &str| thread::Builder::new().name(format!("cluster-{name}"));
        threads.push(
            spawn("reader")
                .spawn(move || reader.run(reader_conn))
                .map_err(|e| format!("cannot start the cluster reader thread: {e}"))?,
        );
        let (done_tx, worker_done) = crossbeam_channel::bounded::<()>(0);
        let worker = Worker {
            shared: shared.clone(),
            stop: stop_rx,
            ops: ops_rx,
            pending: VecDeque::new(),
            acked: last,
            resync: false,
            closing: false,
            next_seq: 0,
        };
        let started = spawn("worker").spawn(move || {
            worker.run(worker_conn);
            drop(done_tx);
        });
        let mut link = Link {
            shared,
            ops: ops_tx,
            stop: Some(stop_tx),
            threads,
            requests: Mutex::new(None),
            worker_done,
            tidy: true,
        };
        match started {
            Ok(worker) => link.threads.push(worker),
            Err(e) => {
                link.tidy = false;
                link.shutdown(); // stops the reader
                return Err(format!("cannot start the cluster worker thread: {e}"));
            }
        }
        Ok((link, events))
    }

    /// This process's id in the room.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// False while the link has lost Redis (and until it has written this process's members
    /// and nicks back after a reconnect).
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed) && self.shared.synced.load(Ordering::Relaxed)
    }

    /// Appends a line to the room, later. It comes back as [`LinkEvent::Entry`] once it is in
    /// the stream. Field names starting with `_` are the link's own.
    pub fn publish(&self, fields: &[(&str, &str)]) -> Result<(), NotDelivered> {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if fields.iter().any(|(k, _)| k.starts_with('_')) {
            return Err(NotDelivered {
                fields,
                why: "field names starting with '_' are reserved",
            });
        }
        match self.ops.try_send(Op::Publish(fields)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(Op::Publish(fields))) => Err(NotDelivered {
                fields,
                why: "the cluster link's queue is full (Redis is away or too slow)",
            }),
            Err(TrySendError::Disconnected(Op::Publish(fields))) => Err(NotDelivered {
                fields,
                why: "the cluster link is closed",
            }),
            Err(_) => Err(NotDelivered {
                fields: Vec::new(),
                why: "the cluster link is closed",
            }), // (only Publish is sent here)
        }
    }

    /// A member is here; `info` is what [`Link::roster`] and [`LinkEvent::Gone`] show of it.
    pub fn join(&self, member: &str, info: &str) {
        let mut registry = lock(&self.shared.registry);
        registry.members.insert(member.into(), info.into());
        registry.dirty.insert(member.into());
        drop(registry);
        let _ = self.ops.try_send(Op::Nudge);
    }

    /// A member left: it is taken out of the roster and its nick is given back.
    pub fn leave(&self, member: &str) {
        let owner = self.shared.owner(member);
        let mut registry = lock(&self.shared.registry);
        registry.members.remove(member);
        registry.dirty.insert(member.into());
        if let Some(nick) = registry.nick_of.remove(member) {
            registry.released.push((nick, owner));
        }
        drop(registry);
        let _ = self.ops.try_send(Op::Nudge);
    }

    /// The next `guest-N` free in the whole room (INCR, then the nick claimed), for `member`.
    pub fn claim_guest(&self, member: &str) -> Result<u64, Error> {
        let owner = self.shared.owner(member);
        let keys = &self.shared.keys;
        let n = self.request(|conn| {
            // After a Redis restart the counter starts again at 1 while old guests are still
            // here (their nicks written back): skip the taken ones, boundedly.
            for _ in 0..1000 {
                let reply = conn.command(&["INCR", &keys.guests])?;
                let n = reply
                    .as_int()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0);
                let nick = format!("guest-{n}");
                if conn.command(&["HSETNX", &keys.nicks, &nick, &owner])? == Reply::Integer(1) {
                    return Ok(n);
                }
            }
            Err(Error::Redis("no free guest number after 1000 tries".into()))
        })?;
        self.took_nick(member, &format!("guest-{n}"))?;
        Ok(n)
    }

    /// Reserves `nick` for `member` in the whole room; false if someone else has it. The
    /// member's previous nick is given back.
    pub fn claim_nick(&self, member: &str, nick: &str) -> Result<bool, Error> {
        let owner = self.shared.owner(member);
        let nicks = &self.shared.keys.nicks;
        let ours = self.request(|conn| {
            if conn.command(&["HSETNX", nicks, nick, &owner])? == Reply::Integer(1) {
                return Ok(true);
            }
            let holder = conn.command(&["HGET", nicks, nick])?;
            Ok(holder.as_str() == Some(owner.as_str()))
        })?;
        if ours {
            self.took_nick(member, nick)?;
        }
        Ok(ours)
    }

    /// Records `member`'s new nick and gives its old one back.
    fn took_nick(&self, member: &str, nick: &str) -> Result<(), Error> {
        let old = lock(&self.shared.registry)
            .nick_of
            .insert(member.into(), nick.into());
        match old {
            Some(old) if old != nick => {
                let owner = self.shared.owner(member);
                self.request(|conn| release(conn, &self.shared.keys.nicks, &old, &owner))
            }
            _ => Ok(()),
        }
    }

    /// Everyone in the room, on every live process, with their nicks.
    pub fn roster(&self) -> Result<Vec<Present>, Error> {
        let keys = &self.shared.keys;
        self.request(|conn| {
            let mut owners: HashMap<String, String> = HashMap::new();
            for (nick, owner) in pairs(conn.command(&["HGETALL", &keys.nicks])?) {
                owners.insert(owner, nick);
            }
            let mut procs = strings(conn.command(&["SMEMBERS", &keys.procs])?);
            procs.sort();
            let mut present = Vec::new();
            for process in procs {
                for (member, info) in pairs(conn.command(&["HGETALL", &keys.members(&process)])?) {
                    let nick = owners.get(&format!("{process}/{member}")).cloned();
                    present.push(Present {
                        process: process.clone(),
                        member,
                        nick,
                        info,
                    });
                }
            }
            Ok(present)
        })
    }

    /// Runs one synchronous exchange on the request connection; fails at once while the link
    /// is down, so the caller (the hub) is never held longer than one timeout. A connection
    /// kept from before may have died since (Redis restarted): then it is tried once more on a
    /// fresh one (every exchange here may run twice: INCR wastes a number, the rest repeat).
    fn request<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if !self.is_up() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the cluster link is down",
            )));
        }
        let mut slot = lock(&self.requests);
        let reused = slot.is_some();
        for attempt in 0..2 {
            let conn = match slot.as_mut() {
                Some(conn) => conn,
                None => slot.insert(
                    self.shared
                        .connect("requests")
                        .map_err(|e| Error::Io(io::Error::new(io::ErrorKind::NotConnected, e)))?,
                ),
            };
            let result = f(conn);
            if !matches!(result, Err(Error::Io(_) | Error::Protocol(_))) {
                return result;
            }
            *slot = None;
            if attempt == 1 || !reused {
                return result;
            }
        }
        Err(Error::Io(io::ErrorKind::NotConnected.into()))
    }

    /// Stops the threads. Members still joined are reported gone to the others, and this
    /// process's keys are removed.
    pub fn close(mut self) {
        self.shutdown();
    }

    /// Test-only: stops (or resumes) refreshing this process's presence, as a long stall
    /// would look to the others.
    #[doc(hidden)]
    pub fn pause_presence(&self, paused: bool) {
        self.shared.presence_paused.store(paused, Ordering::Relaxed);
    }

    /// Test-only: stops as `kill -9` would, leaving the keys for the others to reap.
    #[doc(hidden)]
    pub fn crash(mut self) {
        self.tidy = false;
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.stop.is_none() {
            return;
        }
        if self.tidy {
            // Lines already accepted go out first (if Redis answers within one timeout).
            let timeout = self.shared.config.timeout;
            if self.ops.send_timeout(Op::Close, timeout).is_ok() {
                let _ = self.worker_done.recv_timeout(timeout);
            }
        }
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.stop = None;
        for closer in lock(&self.shared.closers).values() {
            closer.close();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if self.tidy
            && let Ok(mut conn) = self.shared.connect("closing")
        {
            let _ = reap(&self.shared, &mut conn, &self.shared.id, true);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// `SET alive PX ttl` and `SADD procs`: true if Redis did not know this process.
fn register(shared: &Shared, conn: &mut Connection) -> Result<bool, Error> {
    let keys = &shared.keys;
    let ttl = shared.config.presence_ttl.as_millis().max(1).to_string();
    conn.command(&["SET", &keys.alive(&shared.id), "1", "PX", &ttl])?;
    Ok(conn.command(&["SADD", &keys.procs, &shared.id])? == Reply::Integer(1))
}

/// The stream's last `history` entries, oldest first, and the id to read on from.
fn history(shared: &Shared, conn: &mut Connection) -> Result<(Vec<Entry>, StreamId), Error> {
    let count = shared.config.history.max(1).to_string();
    let reply = conn.command(&["XREVRANGE", &shared.keys.stream, "+", "-", "COUNT", &count])?;
    let mut entries = Vec::new();
    for item in reply.into_array().unwrap_or_default() {
        if let Some(entry) = parse_entry(item) {
            entries.push(entry);
        }
    }
    entries.reverse();
    let last = entries.last().map(|e| e.0).unwrap_or_default();
    if shared.config.history == 0 {
        entries.clear();
    }
    let history = entries
        .into_iter()
        .filter_map(|(id, fields)| match to_event(id, fields) {
            LinkEvent::Entry(entry) => Some(entry),
            _ => None,
        })
        .collect();
    Ok((history, last))
}

/// One `[id, [field, value, ...]]` of XRANGE/XREAD.
fn parse_entry(reply: Reply) -> Option<(StreamId, Vec<(String, String)>)> {
    let mut parts = reply.into_array()?.into_iter();
    let id = StreamId::parse(parts.next()?.as_str()?)?;
    Some((id, pairs(parts.next()?)))
}

/// A flat `[k, v, k, v ...]` array as pairs (what HGETALL and stream entries hold).
fn pairs(reply: Reply) -> Vec<(String, String)> {
    let items = strings(reply);
    items
        .chunks_exact(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect()
}

fn strings(reply: Reply) -> Vec<String> {
    reply
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

/// What an entry means: a line of the hub's, or the link's news of a gone member.
fn to_event(id: StreamId, fields: Vec<(String, String)>) -> LinkEvent {
    let mut from = String::new();
    let mut gone = None;
    let (mut member, mut nick, mut info) = (String::new(), None, String::new());
    let mut own = Vec::new();
    for (k, v) in fields {
        match k.as_str() {
            "_p" => from = v,
            "_s" => {}
            "_gone" => gone = Some(v),
            "_member" => member = v,
            "_nick" => nick = Some(v),
            "_info" => info = v,
            _ => own.push((k, v)),
        }
    }
    match gone {
        Some(process) => LinkEvent::Gone {
            process,
            member,
            nick,
            info,
        },
        None => LinkEvent::Entry(Entry {
            id,
            from,
            fields: own,
        }),
    }
}

/// `XADD stream MAXLEN ~ N * _p ID _s SEQ fields...`
fn xadd(shared: &Shared, seq: &str, fields: &[(String, String)]) -> Vec<String> {
    let max_len = shared.config.max_len.to_string();
    let mut args: Vec<String> = ["XADD", &shared.keys.stream, "MAXLEN", "~", &max_len, "*"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["_p".into(), shared.id.clone(), "_s".into(), seq.into()]);
    for (k, v) in fields {
        args.extend([k.clone(), v.clone()]);
    }
    args
}

/// HDEL of a nick only if `owner` still holds it.
fn release(conn: &mut Connection, nicks: &str, nick: &str, owner: &str) -> Result<(), Error> {
    if conn.command(&["HGET", nicks, nick])?.as_str() == Some(owner) {
        conn.command(&["HDEL", nicks, nick])?;
    }
    Ok(())
}

/// Takes `process` out of the room: its members' gone news into the stream, its nicks freed,
/// its keys deleted, all in one transaction (MULTI/EXEC) that happens only if its presence key
/// stayed absent and its members unchanged since we looked (WATCH). So a process that comes
/// back to life meanwhile, or another reaper that got there first, makes this one a no-op:
/// each member is reported gone once, and a revived process's write-back is never undone.
/// `closing`: this process reaps itself on close, its presence key still there.
fn reap(shared: &Shared, conn: &mut Connection, process: &str, closing: bool) -> Result<(), Error> {
    let keys = &shared.keys;
    let (alive, members_key) = (keys.alive(process), keys.members(process));
    conn.command(&["WATCH", &alive, &members_key])?;
    let gone = !closing && conn.command(&["EXISTS", &alive])? == Reply::Integer(0);
    let listed = conn.command(&["SISMEMBER", &keys.procs, process])? == Reply::Integer(1);
    if !(gone || closing) || !listed {
        conn.command(&["UNWATCH"])?;
        return Ok(());
    }
    let members = pairs(conn.command(&["HGETALL", &members_key])?);
    let prefix = format!("{process}/");
    let mut nick_of = HashMap::new();
    for (nick, owner) in pairs(conn.command(&["HGETALL", &keys.nicks])?) {
        if let Some(member) = owner.strip_prefix(&prefix) {
            nick_of.insert(member.to_string(), nick);
        }
    }
    let text = |args: &[&str]| args.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut commands = vec![text(&["MULTI"]), text(&["SREM", &keys.procs, process])];
    for nick in nick_of.values() {
        commands.push(text(&["HDEL", &keys.nicks, nick]));
    }
    commands.push(text(&["DEL", &members_key, &alive]));
    for (n, (member, info)) in members.into_iter().enumerate() {
        let mut news = vec![
            ("_gone".into(), process.to_string()),
            ("_member".into(), member.clone()),
            ("_info".into(), info),
        ];
        if let Some(nick) = nick_of.get(&member) {
            news.push(("_nick".into(), nick.clone()));
        }
        // Its own sequence ("r0", "r1" ...): not mistaken for a line by `drop_appended`
        // or `seen_before`.
        commands.push(xadd(shared, &format!("r{n}"), &news));
    }
    commands.push(text(&["EXEC"]));
    let refs: Vec<&[String]> = commands.iter().map(Vec::as_slice).collect();
    conn.send(&refs)?;
    // +OK, one +QUEUED each, then EXEC's array (or the null array: a watched key changed).
    let mut refused = None;
    for _ in 1..refs.len() {
        if let Reply::Error(why) = conn.read_reply()? {
            refused = Some(why);
        }
    }
    match (refused, conn.read_reply()?) {
        (Some(why), _) | (None, Reply::Error(why)) => Err(Error::Redis(why)),
        _ => Ok(()),
    }
}

/// The thread that reads the stream and hands entries to the hub.
struct Reader {
    shared: Arc<Shared>,
    stop: Receiver<()>,
    last: StreamId,
    /// Per publishing process, the highest `_s` delivered (and when): a line appended again
    /// after a Redis restart lost the proof of its first append is not delivered twice.
    delivered: HashMap<String, (u64, StreamId)>,
}

/// Publishers remembered by a reader before the longest-silent ones are forgotten.
const PUBLISHERS_REMEMBERED: usize = 1024;

/// Waits `d`, or less if the link stops; true if it stopped.
fn pause(stop: &Receiver<()>, d: Duration) -> bool {
    !matches!(stop.recv_timeout(d), Err(RecvTimeoutError::Timeout))
}

fn next_backoff(d: Duration, config: &LinkConfig) -> Duration {
    (d * 2).min(config.max_backoff)
}

impl Reader {
    fn run(mut self, conn: Connection) {
        let mut conn = Some(conn);
        let mut backoff = self.shared.config.backoff;
        let read_timeout = self.shared.config.block + self.shared.config.timeout;
        while !self.shared.stopping.load(Ordering::Relaxed) {
            let Some(c) = conn.as_mut() else {
                if pause(&self.stop, backoff) {
                    return;
                }
                backoff = next_backoff(backoff, &self.shared.config);
                if let Ok(mut c) = self.shared.connect("reader") {
                    match self.gap(&mut c) {
                        Ok(gap) => {
                            backoff = self.shared.config.backoff;
                            self.shared.up.store(true, Ordering::Relaxed);
                            conn = Some(c);
                            if !self.shared.emit(LinkEvent::LinkBack { gap }) {
                                return;
                            }
                        }
                        Err(_) => continue,
                    }
                }
                continue;
            };
            let _ = c.set_read_timeout(Some(read_timeout));
            match self.read(c) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    conn = None;
                    if self.shared.stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    if self.shared.up.swap(false, Ordering::Relaxed)
                        && !self.shared.emit(LinkEvent::LinkLost(e.to_string()))
                    {
                        return;
                    }
                }
            }
        }
    }

    /// One XREAD BLOCK; every entry goes to the hub. Ok(false): the hub is gone.
    fn read(&mut self, conn: &mut Connection) -> Result<bool, Error> {
        let block = self.shared.config.block.as_millis().max(1).to_string();
        let last = self.last.to_string();
        let reply = conn.command(&[
            "XREAD",
            "COUNT",
            "512",
            "BLOCK",
            &block,
            "STREAMS",
            &self.shared.keys.stream,
            &last,
        ])?;
        // [[stream key, [entry, entry ...]]], or the null array when BLOCK timed out.
        for stream in reply.into_array().unwrap_or_default() {
            let mut parts = stream.into_array().unwrap_or_default().into_iter().skip(1);
            for item in parts.next().and_then(Reply::into_array).unwrap_or_default() {
                let Some((id, fields)) = parse_entry(item) else {
                    return Err(Error::Protocol(
                        "a stream entry without id or fields".into(),
                    ));
                };
                self.last = id;
                if self.seen_before(id, &fields) {
                    continue;
                }
                if !self.shared.emit(to_event(id, fields)) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// True for a line whose publisher already had this sequence number (or a later one)
    /// delivered: each publisher appends in sequence order, so only a repeat comes back lower.
    fn seen_before(&mut self, id: StreamId, fields: &[(String, String)]) -> bool {
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let (Some(from), Some(Ok(seq))) = (field("_p"), field("_s").map(|s| s.parse::<u64>()))
        else {
            return false; // a gone member's news ("r1" ...) or a foreign entry
        };
        if let Some((last, _)) = self.delivered.get(from)
            && seq <= *last
        {
            return true;
        }
        if self.delivered.len() >= PUBLISHERS_REMEMBERED && !self.delivered.contains_key(from) {
            let mut ages: Vec<StreamId> = self.delivered.values().map(|(_, at)| *at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            self.delivered.retain(|_, (_, at)| *at > cut);
        }
        self.delivered.insert(from.clone(), (seq, id));
        false
    }

    /// After a reconnect: is the last delivered entry still there? (It is never deleted, only
    /// trimmed away or lost with a Redis that restarted.)
    fn gap(&self, conn: &mut Connection) -> Result<bool, Error> {
        if self.last == StreamId::default() {
            return Ok(false);
        }
        let last = self.last.to_string();
        let found = conn.command(&["XRANGE", &self.shared.keys.stream, &last, &last])?;
        Ok(found.into_array().unwrap_or_default().is_empty())
    }
}

/// Lines on their way into the stream.
struct Pending {
    seq: u64,
    fields: Vec<(String, String)>,
}

/// Lines appended per round trip (pipelined XADDs).
const BATCH: usize = 256;

/// The thread that appends, refreshes presence, reaps the gone and keeps the registry in Redis.
struct Worker {
    shared: Arc<Shared>,
    stop: Receiver<()>,
    ops: Receiver<Op>,
    /// Taken from `ops`, not yet acknowledged by Redis (at most BATCH).
    pending: VecDeque<Pending>,
    /// The id of our last acknowledged XADD: where to look for in-flight lines after a break.
    acked: StreamId,
    /// Write the registry back in full before anything else (after a reconnect).
    resync: bool,
    /// Op::Close was taken: stop once `pending` is appended.
    closing: bool,
    /// The last sequence number given to a line.
    next_seq: u64,
}

impl Worker {
    fn run(mut self, conn: Connection) {
        let config = self.shared.config.clone();
        let mut conn = Some(conn);
        let mut backoff = config.backoff;
        let mut next_refresh = Instant::now() + config.refresh;
        loop {
            if self.shared.stopping.load(Ordering::Relaxed) {
                return;
            }
            let Some(c) = conn.as_mut() else {
                // Down: the queue (`ops`) is left to fill; publish refuses once it is full.
                if pause(&self.stop, backoff) {
                    return;
                }
                backoff = next_backoff(backoff, &config);
                if let Ok(c) = self.shared.connect("worker") {
                    conn = Some(c);
                    backoff = config.backoff;
                    self.resync = true;
                }
                continue;
            };
            let wait = next_refresh.saturating_duration_since(Instant::now());
            if self.pending.is_empty() {
                crossbeam_channel::select! {
                    recv(self.ops) -> op => match op {
                        Ok(op) => self.take(op),
                        Err(_) => return,
                    },
                    recv(self.stop) -> _ => return,
                    default(wait) => {}
                }
            }
            while self.pending.len() < BATCH && !self.closing {
                match self.ops.try_recv() {
                    Ok(op) => self.take(op),
                    Err(_) => break,
                }
            }
            let mut step = || -> Result<(), Error> {
                if self.resync {
                    if self.write_back(c)? {
                        self.shared.emit(LinkEvent::Reregistered);
                    }
                    self.drop_appended(c)?;
                    self.resync = false;
                    self.shared.synced.store(true, Ordering::Relaxed);
                }
                self.flush_registry(c)?;
                self.append(c)?;
                let paused = self.shared.presence_paused.load(Ordering::Relaxed);
                if Instant::now() >= next_refresh && !paused {
                    next_refresh = Instant::now() + config.refresh;
                    if register(&self.shared, c)? {
                        // Redis forgot us: a restart, or we were reaped after a stall.
                        self.write_back(c)?;
                        self.shared.emit(LinkEvent::Reregistered);
                    }
                    self.reap_the_gone(c)?;
                }
                Ok(())
            };
            match step() {
                Ok(()) if self.closing && self.pending.is_empty() => return,
                Ok(()) => {}
                Err(_) => {
                    conn = None;
                    self.resync = true;
                    self.shared.synced.store(false, Ordering::Relaxed);
                }
            }
        }
    }

    fn take(&mut self, op: Op) {
        match op {
            Op::Publish(fields) => {
                self.next_seq += 1;
                self.pending.push_back(Pending {
                    seq: self.next_seq,
                    fields,
                })
            }
            Op::Nudge => {}
            Op::Close => self.closing = true,
        }
    }

    /// Pipelined XADDs of every pending line; each acknowledged one leaves `pending`.
    fn append(&mut self, conn: &mut Connection) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let commands: Vec<Vec<String>> = self
            .pending
            .iter()
            .map(|p| xadd(&self.shared, &p.seq.to_string(), &p.fields))
            .collect();
        let refs: Vec<&[String]> = commands.iter().map(Vec::as_slice).collect();
        conn.send(&refs)?;
        for _ in 0..refs.len() {
            let reply = conn.read_reply()?;
            let Some(line) = self.pending.pop_front() else {
                break;
            };
            match reply {
                Reply::Error(why) => {
                    self.shared.emit(LinkEvent::NotDelivered {
                        fields: line.fields,
                        why,
                    });
                }
                other => {
                    if let Some(id) = other.as_str().and_then(StreamId::parse) {
                        self.acked = id;
                    }
                }
            }
        }
        Ok(())
    }

    /// After a break: lines of ours that reached the stream although their reply was lost
    /// are not sent again. Looks from the last acknowledged id on, boundedly.
    fn drop_appended(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let Some(first) = self.pending.front().map(|p| p.seq) else {
            return Ok(());
        };
        let mut from = format!("({}", self.acked);
        let mut appended = 0;
        let pages = self.shared.config.max_len / 500 + 10;
        for _ in 0..pages {
            let reply = conn.command(&[
                "XRANGE",
                &self.shared.keys.stream,
                &from,
                "+",
                "COUNT",
                "500",
            ])?;
            let items = reply.into_array().unwrap_or_default();
            let n = items.len();
            for item in items {
                let Some((id, fields)) = parse_entry(item) else {
                    continue;
                };
                from = format!("({id}");
                let ours = fields
                    .iter()
                    .any(|(k, v)| k == "_p" && *v == self.shared.id);
                let seq = fields.iter().find(|(k, _)| k == "_s");
                if let (true, Some(Ok(seq))) = (ours, seq.map(|(_, v)| v.parse::<u64>())) {
                    appended = appended.max(seq);
                }
            }
            if n < 500 {
                break;
            }
        }
        if appended >= first {
            self.pending.retain(|p| p.seq > appended);
        }
        Ok(())
    }

    /// Writes every member and nick of this process back into Redis (after Redis forgot
    /// them, or a broken link left some change unwritten). True if Redis had forgotten this
    /// process.
    fn write_back(&mut self, conn: &mut Connection) -> Result<bool, Error> {
        let shared = &self.shared;
        let keys = &shared.keys;
        let forgotten = register(shared, conn)?;
        let (members, nicks) = {
            let mut registry = lock(&shared.registry);
            registry.dirty.clear();
            registry.released.clear();
            (registry.members.clone(), registry.nick_of.clone())
        };
        let members_key = keys.members(&shared.id);
        conn.command(&["DEL", &members_key])?;
        for (member, info) in &members {
            conn.command(&["HSET", &members_key, member, info])?;
        }
        let mut held = HashSet::new();
        for (member, nick) in &nicks {
            let owner = shared.owner(member);
            let taken = conn.command(&["HSETNX", &keys.nicks, nick, &owner])? == Reply::Integer(0)
                && conn.command(&["HGET", &keys.nicks, nick])?.as_str() != Some(owner.as_str());
            if taken {
                lock(&shared.registry).nick_of.remove(member);
                shared.emit(LinkEvent::NickLost {
                    member: member.clone(),
                    nick: nick.clone(),
                });
            } else {
                held.insert(nick.clone());
            }
        }
        // Nicks of ours that were to be given back while the link was down.
        let prefix = format!("{}/", shared.id);
        for (nick, owner) in pairs(conn.command(&["HGETALL", &keys.nicks])?) {
            if owner.starts_with(&prefix) && !held.contains(&nick) {
                release(conn, &keys.nicks, &nick, &owner)?;
            }
        }
        Ok(forgotten)
    }

    /// The joins, leaves and given-back nicks since the last time.
    fn flush_registry(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let shared = &self.shared;
        let (changes, released) = {
            let mut registry = lock(&shared.registry);
            if registry.dirty.is_empty() && registry.released.is_empty() {
                return Ok(());
            }
            let changes: Vec<(String, Option<String>)> = registry
                .dirty
                .drain()
                .collect::<Vec<_>>()
                .into_iter()
                .map(|m| {
                    let info = registry.members.get(&m).cloned();
                    (m, info)
                })
                .collect();
            (changes, std::mem::take(&mut registry.released))
        };
        let members_key = shared.keys.members(&shared.id);
        let mut failed = Ok(());
        for (member, info) in &changes {
            let done = match info {
                Some(info) => conn.command(&["HSET", &members_key, member, info]),
                None => conn.command(&["HDEL", &members_key, member]),
            };
            if let Err(e) = done {
                failed = Err(e);
                break;
            }
        }
        if failed.is_ok() {
            for (nick, owner) in &released {
                if let Err(e) = release(conn, &shared.keys.nicks, nick, owner) {
                    failed = Err(e);
                    break;
                }
            }
        }
        // A failure leaves the rest to the full write-back after the reconnect.
        failed
    }

    /// Every process in the set whose presence key expired is reaped (by whoever gets there
    /// first).
    fn reap_the_gone(&mut self, conn: &mut Connection) -> Result<(), Error> {
        let keys = &self.shared.keys;
        for process in strings(conn.command(&["SMEMBERS", &keys.procs])?) {
            if process == self.shared.id {
                continue;
            }
            if conn.command(&["EXISTS", &keys.alive(&process)])? == Reply::Integer(0) {
                reap(&self.shared, conn, &process, false)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_parse_print_and_order() {
        let id = StreamId::parse("1700000000000-7").unwrap();
        assert_eq!((id.ms, id.seq), (1_700_000_000_000, 7));
        assert_eq!(id.to_string(), "1700000000000-7");
        assert!(StreamId::parse("1-2").unwrap() < StreamId::parse("1-10").unwrap());
        assert!(StreamId::parse("2-0").unwrap() > StreamId::parse("1-99").unwrap());
        for bad in [
            "",
            "1",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "99999999999999999999-0",
        ] {
            assert_eq!(StreamId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn room_names() {
        assert!(check_room("main").is_ok());
        assert!(check_room("team-7_a.b").is_ok());
        for bad in ["", "a b", "a}b", "a:b", "ü", &"x".repeat(65)] {
            assert!(check_room(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_and_gone_members_from_stream_fields() {
        let f = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        let id = StreamId { ms: 5, seq: 1 };
        let line = to_event(id, f(&[("_p", "abc"), ("_s", "3"), ("line", "alice: hi")]));
        assert_eq!(
            line,
            LinkEvent::Entry(Entry {
                id,
                from: "abc".into(),
                fields: f(&[("line", "alice: hi")]),
            })
        );
        let gone = to_event(
            id,
            f(&[
                ("_p", "x"),
                ("_gone", "dead"),
                ("_member", "7"),
                ("_info", "tcp"),
            ]),
        );
        assert_eq!(
            gone,
            LinkEvent::Gone {
                process: "dead".into(),
                member: "7".into(),
                nick: None,
                info: "tcp".into()
            }
        );
        let keys = Keys::new("main");
        assert_eq!(keys.stream, "plainsock:{main}:stream");
        assert_eq!(keys.alive("p1"), "plainsock:{main}:proc:p1");
        assert_eq!(keys.members("p1"), "plainsock:{main}:members:p1");
    }
}
