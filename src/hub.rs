//! The room: one hub thread that every transport talks to over crossbeam channels.
//!
//! Transports only translate. A reader thread turns its wire format into [`Member::say`], and an
//! [`Outlet`] turns a line back into the wire format. Everything in between (nicks, commands,
//! history, the order of messages, who gets what) happens here, on one thread, so every member
//! sees the room's lines in the same order and no transport has a broadcast loop of its own.
//!
//! ```text
//!  tcp reader ─┐                          ┌─ writer lane 0 ─→ outboxes of members 0, 4, 8 …
//!  udp loop   ─┼─ Event ─→ hub (one room) ─┼─ writer lane 1 ─→ outboxes of members 1, 5, 9 …
//!  ws reader  ─┘   bounded                 └─ …   (delivery/)
//! ```
//!
//! With `--cluster` the hub is not the sequencer: a room line goes to Redis first and reaches
//! the members here when it comes back from the stream, as on every other process
//! ([`crate::backplane`], `Room::say_room`).

use crate::backplane::{self, Backplane, Kind};
use crate::chat::{self, Input};
use crate::cluster::LinkEvent;
use crate::config::ServerConfig;
use crate::delivery::lanes::{self, Eviction, WriterPool};
use crate::delivery::outbox::{Bounds, Mailbox};
pub use crate::delivery::{Farewell, MemberId, Outgoing, Outlet};
use crate::log::Log;
use crossbeam_channel::{Receiver, Sender, select};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Lines from readers waiting for the hub; when full, readers wait (backpressure).
const EVENT_CAPACITY: usize = 4096;
/// `/who` names at most this many members, then says how many more.
const WHO_LIMIT: usize = 50;
/// A big room's join/leave summary comes at most this often.
const SUMMARY_EVERY: Duration = Duration::from_secs(1);
/// With nothing to announce, the hub still wakes this often (it costs nothing).
const IDLE_WAKEUP: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    WebSocket,
    /// Socket.IO over Engine.IO long polling.
    Polling,
    /// Socket.IO on a WebSocket (from the start, or since its upgrade).
    SocketIo,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::WebSocket => "websocket",
            Transport::Polling => "polling",
            Transport::SocketIo => "socket.io",
        })
    }
}

enum Event {
    Join {
        member: lanes::Member,
        transport: Transport,
        peer: SocketAddr,
    },
    Line {
        id: MemberId,
        text: String,
    },
    Tell {
        id: MemberId,
        text: String,
    },
    Kick {
        id: MemberId,
        why: String,
    },
    Flush {
        id: MemberId,
    },
    Moved {
        id: MemberId,
        transport: Transport,
    },
    Leave {
        id: MemberId,
    },
    Count(Sender<usize>),
    History {
        after: u64,
        reply: Sender<History>,
    },
    Shutdown,
}

/// The room's messages after a number, for a client that asks again and again (short polling,
/// `GET /history?after=SEQ`). Messages are numbered 1, 2, 3 … as they enter the history, by the
/// hub, so the numbers follow the room's one order. With `--cluster` they are this process's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History {
    /// The number of the room's latest message (0: none yet): the client's next `after`.
    pub latest: u64,
    /// The messages numbered above `after` that the history still holds, oldest first.
    pub lines: Vec<String>,
    /// Messages numbered above `after` that the history no longer holds (the client fell
    /// behind by more than `--history`).
    pub missed: u64,
}

/// The transports' handle on the room. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    events: Sender<Event>,
    next_id: Arc<AtomicU64>,
}

/// A member's place in the room, held by its reader. Dropping it leaves the room.
pub struct Member {
    id: MemberId,
    events: Sender<Event>,
    mailbox: Arc<Mailbox>,
}

impl Member {
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// The member's outbox: a transport that pulls its lines (long polling) takes them here.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// A line the member typed: a message or a command.
    pub fn say(&self, text: String) {
        let _ = self.events.send(Event::Line { id: self.id, text });
    }

    /// A notice for this member only (e.g. "your line was not UTF-8").
    pub fn tell(&self, text: &str) {
        let _ = self.events.send(Event::Tell {
            id: self.id,
            text: chat::notice(text),
        });
    }

    /// The transport queued bytes of its own (a WebSocket Pong) that a full socket did not
    /// take, or it held lines back for a read receipt that has now come: the delivery threads
    /// offer them again at once, and evict the member if it stays full.
    pub fn flush(&self) {
        let _ = self.events.send(Event::Flush { id: self.id });
    }

    /// The member's connection changed transport (a long-polling session upgraded).
    pub fn moved(&self, transport: Transport) {
        let _ = self.events.send(Event::Moved {
            id: self.id,
            transport,
        });
    }

    /// The transport gives up on this member: it is told why and closed.
    pub fn kick(&self, why: &str) {
        let _ = self.events.send(Event::Kick {
            id: self.id,
            why: why.to_string(),
        });
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Leave { id: self.id });
    }
}

impl Hub {
    /// Starts the hub thread and its writer lanes.
    pub fn start(config: &ServerConfig, log: Log) -> io::Result<(Hub, JoinHandle<()>)> {
        let (events, inbox) = crossbeam_channel::bounded(EVENT_CAPACITY);
        let (evicted, evictions) = crossbeam_channel::unbounded();
        let bounds = Bounds {
            max_bytes: config.max_outbox,
            max_age: config.write_timeout,
        };
        let writers = WriterPool::start(config.writers, bounds, evicted)?;
        // `--cluster`: the room's lines go through Redis (see `backplane`).
        let (backplane, link_events) = match &config.cluster {
            Some(url) => {
                let (backplane, events) =
                    Backplane::open(url, &config.room, config.history).map_err(io::Error::other)?;
                (Some(backplane), events)
            }
            None => (None, crossbeam_channel::never()),
        };
        let room = Room {
            members: HashMap::new(),
            nicks: HashSet::new(),
            history: VecDeque::new(),
            history_len: config.history,
            latest: 0,
            max_line: config.max_line,
            announce_up_to: config.announce_up_to,
            churn: Churn::default(),
            writers,
            backplane,
            reaped: false,
            log,
        };
        let thread = thread::Builder::new()
            .name("hub".into())
            .spawn(move || room.run(inbox, evictions, link_events))?;
        Ok((
            Hub {
                events,
                next_id: Arc::new(AtomicU64::new(1)),
            },
            thread,
        ))
    }

    /// Adds a member; it is greeted, shown the recent history, and announced to the room.
    pub fn join(&self, transport: Transport, peer: SocketAddr, outlet: Arc<dyn Outlet>) -> Member {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mailbox = Arc::new(Mailbox::default());
        let member = lanes::Member {
            id,
            outlet,
            mailbox: mailbox.clone(),
        };
        let _ = self.events.send(Event::Join {
            member,
            transport,
            peer,
        });
        Member {
            id,
            events: self.events.clone(),
            mailbox,
        }
    }

    /// Members in the room now (after every event sent before this call).
    pub fn member_count(&self) -> usize {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.events.send(Event::Count(tx)).is_err() {
            return 0;
        }
        rx.recv().unwrap_or(0)
    }

    /// The room's messages numbered above `after` (see [`History`]); `None` once the hub is gone.
    pub fn history(&self, after: u64) -> Option<History> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.events.send(Event::History { after, reply }).ok()?;
        rx.recv().ok()
    }

    /// Says goodbye to every member, closes them, and ends the hub thread.
    pub fn shutdown(&self) {
        let _ = self.events.send(Event::Shutdown);
    }
}

struct MemberInfo {
    nick: String,
    transport: Transport,
    peer: SocketAddr,
}

impl MemberInfo {
    /// How `/who` shows the member: `tcp from 203.0.113.7:51234`, the client's own end of its
    /// connection (also behind a trusted proxy; without the port when the proxy gave none).
    fn how(&self) -> String {
        let ip = self.peer.ip().to_canonical();
        match self.peer.port() {
            0 => format!("{} from {ip}", self.transport),
            port => format!("{} from {}", self.transport, SocketAddr::new(ip, port)),
        }
    }
}

struct Room {
    members: HashMap<MemberId, MemberInfo>,
    /// Every nick in use, lower-cased: "is it taken?" without looking at every member.
    nicks: HashSet<String>,
    history: VecDeque<Arc<Outgoing>>,
    history_len: usize,
    /// The number of the latest message (the history holds the last `history.len()` of them).
    latest: u64,
    /// The longest line a member may send (every transport's limit), told in the welcome.
    max_line: usize,
    /// Joins and leaves are announced one by one while the room is at most this big.
    announce_up_to: usize,
    churn: Churn,
    writers: WriterPool,
    /// `--cluster`: room lines go out through Redis and come back from its stream.
    backplane: Option<Backplane>,
    /// Others were told this process's members were gone (a stall past the presence TTL).
    reaped: bool,
    log: Log,
}

/// Joins and leaves in a big room, not yet announced. Telling every one of N members about
/// each of N joins is N² lines (50 million for 10,000), so a big room hears one summary a second.
#[derive(Default)]
struct Churn {
    joined: usize,
    left: usize,
    /// When the first unannounced join or leave happened.
    since: Option<Instant>,
}

impl Room {
    fn run(
        mut self,
        inbox: Receiver<Event>,
        evictions: Receiver<Eviction>,
        link_events: Receiver<LinkEvent>,
    ) {
        loop {
            let summary_due = match self.churn.since {
                Some(since) => (since + SUMMARY_EVERY).saturating_duration_since(Instant::now()),
                None => IDLE_WAKEUP,
            };
            select! {
                recv(inbox) -> event => {
                    // An eviction explains a member's disappearance better than the "left" its
                    // reader sends when its socket closes, so evictions go first.
                    while let Ok(eviction) = evictions.try_recv() {
                        self.evict(eviction);
                    }
                    match event {
                        Ok(Event::Shutdown) | Err(_) => break,
                        Ok(event) => self.handle(event),
                    }
                }
                recv(evictions) -> eviction => {
                    if let Ok(eviction) = eviction {
                        self.evict(eviction);
                    }
                }
                recv(link_events) -> event => {
                    if let Ok(event) = event {
                        self.link_event(event);
                    }
                }
                default(summary_due) => {}
            }
            self.announce_churn();
        }
        for id in self.members.keys().copied().collect::<Vec<_>>() {
            self.writers.remove(id, Some(Farewell::Shutdown));
        }
        self.writers.stop();
        if let Some(backplane) = self.backplane.take() {
            backplane.close();
        }
    }

    fn evict(&mut self, Eviction { id, too_slow }: Eviction) {
        self.remove(
            id,
            None,
            if too_slow {
                "dropped: too slow"
            } else {
                "left"
            },
        );
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Join {
                member,
                transport,
                peer,
            } => self.join(member, transport, peer),
            Event::Line { id, text } => self.line(id, &text),
            Event::Tell { id, text } => self.tell(id, text),
            Event::Kick { id, why } => self.remove(id, Some(Farewell::Fault(why)), "left"),
            Event::Leave { id } => self.remove(id, None, "left"),
            Event::Flush { id } => self.writers.flush(id),
            Event::Moved { id, transport } => {
                if let Some(member) = self.members.get_mut(&id) {
                    member.transport = transport;
                }
            }
            Event::Count(reply) => {
                let _ = reply.send(self.members.len());
            }
            Event::History { after, reply } => {
                let _ = reply.send(self.history_after(after));
            }
            Event::Shutdown => {}
        }
    }

    fn join(&mut self, member: lanes::Member, transport: Transport, peer: SocketAddr) {
        let id = member.id;
        let info = MemberInfo {
            nick: String::new(),
            transport,
            peer,
        };
        let nick = match &self.backplane {
            Some(backplane) => {
                backplane.join(id, &info.how());
                backplane.guest(id)
            }
            None => self.free_guest_nick(id),
        };
        self.log
            .line(format_args!("{peer} joined over {transport} as {nick}"));
        self.writers.add(member);
        self.nicks.insert(nick.to_lowercase());
        self.members.insert(
            id,
            MemberInfo {
                nick: nick.clone(),
                ..info
            },
        );
        let online = self.online();
        let welcome = chat::welcome(&nick, online, self.max_line, self.history.len());
        self.tell(id, welcome);
        for line in &self.history {
            self.writers.to(id, line);
        }
        self.announce(format!("{nick} joined"), true);
    }

    /// Tells the room that someone came or went: at once in a small room; in a big one, counted
    /// for the next summary.
    fn announce(&mut self, what: String, joined: bool) {
        if self.members.len() <= self.announce_up_to {
            let online = self.online();
            self.say_room(
                Kind::Notice,
                None,
                chat::notice(&format!("{what} ({online} online)")),
            );
            return;
        }
        if joined {
            self.churn.joined += 1;
        } else {
            self.churn.left += 1;
        }
        self.churn.since.get_or_insert_with(Instant::now);
    }

    /// `* 37 joined, 2 left (10000 online)`, once a second at most, while the room is big.
    fn announce_churn(&mut self) {
        let Some(since) = self.churn.since else {
            return;
        };
        if since.elapsed() < SUMMARY_EVERY {
            return;
        }
        let Churn { joined, left, .. } = std::mem::take(&mut self.churn);
        let online = self.online();
        let summary = chat::notice(&format!("{joined} joined, {left} left ({online} online)"));
        self.say_room(Kind::Notice, None, summary);
    }

    fn free_guest_nick(&self, id: MemberId) -> String {
        let mut nick = format!("guest-{id}");
        let mut n = 1;
        while self.nick_taken(&nick) {
            n += 1;
            nick = format!("guest-{id}-{n}");
        }
        nick
    }

    fn nick_taken(&self, nick: &str) -> bool {
        self.nicks.contains(&nick.to_lowercase())
    }

    fn line(&mut self, id: MemberId, text: &str) {
        let Some(member) = self.members.get(&id) else {
            return;
        };
        match chat::parse_line(text) {
            Input::Empty => {}
            Input::Text(text) => {
                let line = chat::message(&member.nick, &chat::clean(text));
                self.say_room(Kind::Message, Some(id), line);
            }
            Input::Nick(new) => match chat::check_nick(new) {
                Err(why) => self.tell(id, chat::notice(&format!("error: {why}"))),
                Ok(()) if member.nick == new => {
                    self.tell(id, chat::notice(&format!("you are already {new}")))
                }
                Ok(())
                    if self.nick_taken(new) && member.nick.to_lowercase() != new.to_lowercase() =>
                {
                    self.tell(id, chat::notice(&format!("error: the nick {new} is taken")))
                }
                Ok(()) => match self.backplane.as_ref().map(|b| b.claim_nick(id, new)) {
                    Some(None) => self.tell(
                        id,
                        chat::notice("error: nicks cannot change while the cluster link is down"),
                    ),
                    Some(Some(false)) => {
                        self.tell(id, chat::notice(&format!("error: the nick {new} is taken")))
                    }
                    None | Some(Some(true)) => self.rename(id, new),
                },
            },
            Input::Who if self.backplane.is_some() => self.who_cluster(id),
            Input::Who => {
                let mut names: Vec<String> = self
                    .members
                    .values()
                    .take(WHO_LIMIT)
                    .map(|m| format!("{} ({})", m.nick, m.how()))
                    .collect();
                names.sort();
                let more = self.members.len().saturating_sub(WHO_LIMIT);
                let tail = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                self.tell(
                    id,
                    chat::notice(&format!(
                        "{} online: {}{tail}",
                        self.members.len(),
                        names.join(", ")
                    )),
                );
            }
            Input::Help => {
                for line in chat::HELP {
                    self.tell(id, line.to_string());
                }
            }
            Input::Quit => self.remove(id, Some(Farewell::Quit), "left"),
            Input::Unknown("") => self.tell(
                id,
                chat::notice("error: a command is / and a word, as in /help"),
            ),
            Input::Unknown(word) => self.tell(
                id,
                chat::notice(&format!("error: unknown command /{word} (try /help)")),
            ),
        }
    }

    fn tell(&self, id: MemberId, line: String) {
        if self.members.contains_key(&id) {
            self.writers.to(id, &Outgoing::new(line));
        }
    }

    fn broadcast(&self, line: String) {
        self.writers.broadcast(&Outgoing::new(line));
    }

    fn rename(&mut self, id: MemberId, new: &str) {
        if let Some(member) = self.members.get_mut(&id) {
            let was = std::mem::replace(&mut member.nick, new.to_string());
            self.nicks.remove(&was.to_lowercase());
            self.nicks.insert(new.to_lowercase());
            let line = chat::notice(&format!("{was} is now {new}"));
            self.say_room(Kind::Notice, Some(id), line);
        }
    }

    /// A line for the whole room. Alone, the hub is the sequencer: straight to the members.
    /// With `--cluster`, Redis is: the line is published and delivered when it comes back
    /// ([`Room::link_event`]), here as on every other process.
    fn say_room(&mut self, kind: Kind, by: Option<MemberId>, line: String) {
        match &self.backplane {
            None => self.deliver(kind, line),
            Some(backplane) => {
                if backplane.publish(kind, by, &line).is_err()
                    && let Some(id) = by
                {
                    self.tell(id, chat::notice(backplane::NOT_DELIVERED));
                }
            }
        }
    }

    /// A room line, in its final place in the order: to every member here (and, if a message,
    /// to the history for newcomers).
    fn deliver(&mut self, kind: Kind, line: String) {
        let line = Outgoing::new(line);
        if kind == Kind::Message {
            self.remember(line.clone());
        }
        self.writers.broadcast(&line);
    }

    /// Numbers a message and keeps it for newcomers (the last `history_len`).
    fn remember(&mut self, line: Arc<Outgoing>) {
        self.latest += 1;
        if self.history_len == 0 {
            return;
        }
        if self.history.len() == self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(line);
    }

    /// The messages numbered above `after`: the history holds `latest - len + 1 ..= latest`.
    fn history_after(&self, after: u64) -> History {
        let first = self.latest + 1 - self.history.len() as u64;
        let skip = after.saturating_add(1).saturating_sub(first);
        History {
            latest: self.latest,
            lines: self
                .history
                .iter()
                .skip(usize::try_from(skip).unwrap_or(usize::MAX))
                .map(|line| line.line().to_string())
                .collect(),
            missed: (first - 1).saturating_sub(after),
        }
    }

    /// Members in the whole room: here, plus the other processes' (from Redis) if clustered.
    /// A small room asks Redis each time; a big one takes a count up to a second old.
    fn online(&self) -> usize {
        let others = match &self.backplane {
            Some(backplane) => backplane.others_online(self.members.len() <= self.announce_up_to),
            None => 0,
        };
        self.members.len() + others
    }

    /// `/who` across processes: `3 online: alice (tcp, 1f2e…), …`.
    fn who_cluster(&self, id: MemberId) {
        let Some(backplane) = &self.backplane else {
            return;
        };
        let here = backplane.process();
        let mut names: Vec<String> = self
            .members
            .values()
            .map(|m| format!("{} ({}, {here})", m.nick, m.how()))
            .collect();
        let others = backplane.others();
        for someone in others.iter().flatten() {
            names.push(format!(
                "{} ({}, {})",
                someone.nick, someone.info, someone.process
            ));
        }
        names.sort();
        let total = names.len();
        let more = total.saturating_sub(WHO_LIMIT);
        names.truncate(WHO_LIMIT);
        let tail = match (more, others.is_some()) {
            (_, false) => " (this process only: the cluster link is down)".to_string(),
            (0, true) => String::new(),
            (more, true) => format!(" and {more} more"),
        };
        let who = format!("{total} online: {}{tail}", names.join(", "));
        self.tell(id, chat::notice(&who));
    }

    /// News from the cluster link.
    fn link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::History(entries) => {
                for entry in entries.iter().filter_map(backplane::line) {
                    if entry.kind == Kind::Message {
                        self.remember(Outgoing::new(entry.text));
                    }
                }
            }
            LinkEvent::Entry(entry) => {
                if let Some(line) = backplane::line(&entry) {
                    self.deliver(line.kind, line.text);
                }
            }
            LinkEvent::Gone { process, nick, .. } => {
                if self.backplane.as_ref().map(Backplane::process) == Some(process.as_str()) {
                    self.reaped = true;
                }
                let nick = nick.unwrap_or_else(|| "a member".into());
                self.deliver(
                    Kind::Notice,
                    chat::notice(&format!("{nick} left (its server process is gone)")),
                );
            }
            LinkEvent::NotDelivered { fields, why } => {
                if let Some(id) = backplane::sender(&fields) {
                    let why = format!("error: your line was not delivered (Redis said: {why})");
                    self.tell(id, chat::notice(&why));
                }
            }
            LinkEvent::LinkLost(why) => {
                self.log.line(format_args!("cluster link lost: {why}"));
                self.broadcast(chat::notice("cluster link lost; reconnecting"));
            }
            LinkEvent::LinkBack { gap } => {
                self.log
                    .line(format_args!("cluster link back (gap: {gap})"));
                let back = if gap {
                    "cluster link back (Redis lost some lines meanwhile)"
                } else {
                    "cluster link back"
                };
                self.broadcast(chat::notice(back));
            }
            LinkEvent::Reregistered => {
                // The others heard this process's members had gone: say they are here.
                if std::mem::take(&mut self.reaped) {
                    let nicks: Vec<String> =
                        self.members.values().map(|m| m.nick.clone()).collect();
                    for nick in nicks.into_iter().take(self.announce_up_to) {
                        self.say_room(Kind::Notice, None, chat::notice(&format!("{nick} is back")));
                    }
                }
            }
            LinkEvent::NickLost { member, nick } => {
                let Ok(id) = member.parse::<MemberId>() else {
                    return;
                };
                let Some(guest) = self.backplane.as_ref().map(|b| b.guest(id)) else {
                    return;
                };
                self.tell(
                    id,
                    chat::notice(&format!("{nick} was taken while the cluster link was down")),
                );
                self.rename(id, &guest);
            }
        }
    }

    /// Takes a member out of the room (once: later leaves for the same id are ignored).
    fn remove(&mut self, id: MemberId, farewell: Option<Farewell>, how: &str) {
        let Some(member) = self.members.remove(&id) else {
            return;
        };
        self.writers.remove(id, farewell);
        if let Some(backplane) = &self.backplane {
            backplane.leave(id);
        }
        self.nicks.remove(&member.nick.to_lowercase());
        self.log.line(format_args!(
            "{} {how} ({}, {})",
            member.nick, member.peer, member.transport
        ));
        self.announce(format!("{} {how}", member.nick), false);
    }
}
