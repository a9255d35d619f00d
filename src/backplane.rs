//! The hub's side of `--cluster`: which room line goes where, and what the stream's entries mean.
//!
//! Without `--cluster` the hub sends a room line straight to its members. With it, the hub
//! hands the line to the [`Backplane`] instead, and sends its members only what comes back from
//! the Redis stream ([`crate::cluster`]), its own lines included: every process delivers the
//! same entries in the same order, so every member everywhere sees one order.
//!
//! ```text
//!  member says "hi" → hub → Backplane::publish ─XADD─→ stream ─XREAD─→ every process's hub
//!                                                                     → Backplane::line → members
//! ```
//!
//! An entry is the line exactly as members receive it, and what kind of line it is:
//!
//! | field | value |
//! |---|---|
//! | `line` | `alice: hi`, `* bob joined (3 online)` |
//! | `kind` | `m` (a message, kept for newcomers' history) or `n` (a notice) |
//! | `by` | the sender's member id on its process, to tell it if the line was not delivered |

use crate::cluster::{Entry, Link, LinkConfig, LinkEvent, NotDelivered};
use crate::delivery::MemberId;
use crate::resp::RedisUrl;
use crossbeam_channel::Receiver;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// In a big room the others' count is asked of Redis at most this often (the roster is one
/// round trip per process, and it grows with the room).
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// What a room line is: a message is history for newcomers, a notice is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Message,
    Notice,
}

/// What a member hears when its line did not make it into the room.
pub const NOT_DELIVERED: &str = "error: your line was not delivered (cluster link down)";

/// A line read back from the stream.
pub struct Line {
    pub text: String,
    pub kind: Kind,
}

/// Someone in the whole room, for `/who`.
pub struct Someone {
    pub nick: String,
    pub info: String,
    pub process: String,
}

/// This process's place in a room shared through Redis.
pub struct Backplane {
    link: Link,
    /// The others' count last asked, and when.
    counted: Cell<Option<(usize, Instant)>>,
}

impl Backplane {
    /// Connects to Redis (one clear line if it cannot) and registers this process in `room`.
    pub fn open(
        url: &RedisUrl,
        room: &str,
        history: usize,
    ) -> Result<(Backplane, Receiver<LinkEvent>), String> {
        let mut config = LinkConfig::new(url.clone(), room);
        config.history = history;
        let (link, events) = Link::open(config)?;
        let counted = Cell::new(None);
        Ok((Backplane { link, counted }, events))
    }

    /// This process's id in the room (shown by `/who`).
    pub fn process(&self) -> &str {
        self.link.id()
    }

    /// Appends a room line; it reaches the members (here too) when it comes back.
    pub fn publish(
        &self,
        kind: Kind,
        by: Option<MemberId>,
        text: &str,
    ) -> Result<(), NotDelivered> {
        let kind = match kind {
            Kind::Message => "m",
            Kind::Notice => "n",
        };
        let by = by.map(|id| id.to_string()).unwrap_or_default();
        self.link
            .publish(&[("line", text), ("kind", kind), ("by", &by)])
    }

    /// A `guest-N` unique in the whole room; while the link is down, a name made unique by
    /// this process's id (no other process can give it out).
    pub fn guest(&self, id: MemberId) -> String {
        match self.link.claim_guest(&id.to_string()) {
            Ok(n) => format!("guest-{n}"),
            Err(_) => format!("guest-{}-{id}", self.process()),
        }
    }

    /// Reserves `nick` for member `id` room-wide: Some(false) if someone else has it, None if
    /// Redis cannot be asked now.
    pub fn claim_nick(&self, id: MemberId, nick: &str) -> Option<bool> {
        self.link.claim_nick(&id.to_string(), nick).ok()
    }

    /// Member `id` is in the room here; `info` (its transport and address) is what `/who` shows.
    pub fn join(&self, id: MemberId, info: &str) {
        self.link.join(&id.to_string(), info);
    }

    pub fn leave(&self, id: MemberId) {
        self.link.leave(&id.to_string());
    }

    /// Everyone on the other processes; None while Redis cannot be asked.
    pub fn others(&self) -> Option<Vec<Someone>> {
        let roster = self.link.roster().ok()?;
        Some(
            roster
                .into_iter()
                .filter(|p| p.process != self.process())
                .map(|p| Someone {
                    nick: p.nick.unwrap_or_else(|| format!("member {}", p.member)),
                    info: p.info,
                    process: p.process,
                })
                .collect(),
        )
    }

    /// How many members the other processes have. `fresh`: ask Redis now; otherwise a count
    /// up to `COUNT_EVERY` old will do. While Redis cannot be asked, the last count known.
    pub fn others_online(&self, fresh: bool) -> usize {
        if let Some((n, at)) = self.counted.get()
            && !fresh
            && at.elapsed() < COUNT_EVERY
        {
            return n;
        }
        let last = self.counted.get().map_or(0, |(n, _)| n);
        let n = self.others().map_or(last, |others| others.len());
        self.counted.set(Some((n, Instant::now())));
        n
    }

    /// Appends what was accepted, reports this process's members gone, removes its keys.
    pub fn close(self) {
        self.link.close();
    }
}

/// What a stream entry says, if it is one of the hub's lines.
pub fn line(entry: &Entry) -> Option<Line> {
    let text = entry.get("line")?.to_string();
    let kind = match entry.get("kind") {
        Some("m") => Kind::Message,
        _ => Kind::Notice,
    };
    Some(Line { text, kind })
}

/// Who sent the line a [`LinkEvent::NotDelivered`] names, if it was one of ours.
pub fn sender(fields: &[(String, String)]) -> Option<MemberId> {
    fields
        .iter()
        .find(|(k, _)| k == "by")
        .and_then(|(_, v)| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::StreamId;

    fn entry(fields: &[(&str, &str)]) -> Entry {
        Entry {
            id: StreamId::default(),
            from: "p".into(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn an_entry_is_a_line_and_its_kind() {
        let got = line(&entry(&[("line", "alice: hi"), ("kind", "m")])).unwrap();
        assert_eq!((got.text.as_str(), got.kind), ("alice: hi", Kind::Message));
        let got = line(&entry(&[("line", "* bob joined"), ("kind", "n")])).unwrap();
        assert_eq!(got.kind, Kind::Notice);
        assert!(line(&entry(&[("other", "x")])).is_none());
    }

    #[test]
    fn the_sender_of_an_undelivered_line_is_found() {
        let fields = vec![("line".into(), "x".into()), ("by".into(), "42".into())];
        assert_eq!(sender(&fields), Some(42));
        assert_eq!(sender(&[("by".into(), String::new())]), None);
    }
}
