//! The cluster link against a real `redis-server`: two or three `Link`s in this test process
//! stand for two or three `plainsock serve` processes.

mod common;

use common::PATIENCE;
use common::redis::RedisServer;
use crossbeam_channel::Receiver;
use plainsock::cluster::{Entry, Link, LinkConfig, LinkEvent, Present};
use plainsock::resp::RedisUrl;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A link with short timers, so presence and reconnects happen within a test's patience.
fn open(redis: &RedisServer, room: &str) -> (Link, Events) {
    open_with(redis, room, |_| {})
}

fn open_with(
    redis: &RedisServer,
    room: &str,
    tune: impl FnOnce(&mut LinkConfig),
) -> (Link, Events) {
    let mut config = LinkConfig::new(RedisUrl::parse(&redis.url()).unwrap(), room);
    config.presence_ttl = Duration::from_millis(1000);
    config.refresh = Duration::from_millis(200);
    config.block = Duration::from_millis(500);
    config.backoff = Duration::from_millis(20);
    config.max_backoff = Duration::from_millis(200);
    tune(&mut config);
    let (link, rx) = Link::open(config).expect("link opens");
    let mut events = Events {
        rx,
        seen: Vec::new(),
    };
    match events.next() {
        LinkEvent::History(_) => {}
        other => panic!("first event should be History, got {other:?}"),
    }
    (link, events)
}

/// A link's events as the hub would receive them, each within PATIENCE.
struct Events {
    rx: Receiver<LinkEvent>,
    /// Every event but entries, in order, for checks on LinkLost/LinkBack.
    seen: Vec<LinkEvent>,
}

impl Events {
    fn next(&mut self) -> LinkEvent {
        match self.rx.recv_timeout(PATIENCE) {
            Ok(event) => event,
            Err(e) => panic!("no link event within {PATIENCE:?}: {e}"),
        }
    }

    /// The next `n` entries' `line` fields; other events are kept in `seen`.
    fn lines(&mut self, n: usize) -> Vec<String> {
        let mut lines = Vec::new();
        while lines.len() < n {
            match self.next() {
                LinkEvent::Entry(entry) => lines.push(line_of(&entry)),
                other => self.seen.push(other),
            }
        }
        lines
    }

    /// Waits for an event matching `want` (other than entries, which are kept).
    fn until(&mut self, want: impl Fn(&LinkEvent) -> bool) -> (LinkEvent, Vec<String>) {
        let mut lines = Vec::new();
        loop {
            match self.next() {
                LinkEvent::Entry(entry) => lines.push(line_of(&entry)),
                event if want(&event) => return (event, lines),
                other => self.seen.push(other),
            }
        }
    }
}

fn line_of(entry: &Entry) -> String {
    entry.get("line").unwrap_or_default().to_string()
}

fn say(link: &Link, line: &str) {
    link.publish(&[("line", line)]).expect("publish");
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// `got` has each line once, and each publisher's lines in the order said.
fn assert_once_in_order(got: &[String], publishers: &[&str]) {
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a line was delivered twice");
    for p in publishers {
        let mine: Vec<&String> = got.iter().filter(|l| l.starts_with(p)).collect();
        let want: Vec<String> = numbered(p, 0..mine.len());
        assert_eq!(
            mine.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            want.iter().map(String::as_str).collect::<Vec<_>>(),
            "{p}'s lines out of order or with a hole"
        );
    }
}

#[test]
fn three_links_deliver_every_line_once_in_one_order() {
    let redis = RedisServer::start();
    let mut links: Vec<(Link, Events)> = (0..3).map(|_| open(&redis, "order")).collect();
    // Two talkers per process (two members' reader threads, say), 150 lines each.
    std::thread::scope(|s| {
        for (i, (link, _)) in links.iter().enumerate() {
            for talker in ["a", "b"] {
                s.spawn(move || {
                    for n in 0..150 {
                        say(link, &format!("p{i}{talker}-{n}"));
                    }
                });
            }
        }
    });
    let sequences: Vec<Vec<String>> = links.iter_mut().map(|(_, ev)| ev.lines(900)).collect();
    let talkers = ["p0a-", "p0b-", "p1a-", "p1b-", "p2a-", "p2b-"];
    assert_once_in_order(&sequences[0], &talkers);
    assert_eq!(sequences[0].len(), 900);
    assert_eq!(sequences[0], sequences[1], "one order for everyone");
    assert_eq!(sequences[0], sequences[2], "one order for everyone");
}

#[test]
fn a_newcomer_gets_history_from_the_stream() {
    let redis = RedisServer::start();
    let (a, mut a_events) = open(&redis, "history");
    for line in numbered("h", 0..30) {
        say(&a, &line);
    }
    a_events.lines(30);
    let mut config = LinkConfig::new(RedisUrl::parse(&redis.url()).unwrap(), "history");
    config.history = 20;
    let (b, rx) = Link::open(config).unwrap();
    let history = match rx.recv_timeout(PATIENCE).unwrap() {
        LinkEvent::History(entries) => entries.iter().map(line_of).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(history, numbered("h", 10..30));
    // ... and the live lines follow the history, none missing, none repeated.
    say(&a, "after");
    let mut b_events = Events {
        rx,
        seen: Vec::new(),
    };
    assert_eq!(b_events.lines(1), vec!["after".to_string()]);
    drop(b);
}

#[test]
fn client_kill_of_a_link_loses_nothing_and_doubles_nothing() {
    let redis = RedisServer::start();
    let (a, mut a_events) = open(&redis, "kill");
    let (_b, mut b_events) = open(&redis, "kill");
    for line in numbered("a", 0..100) {
        say(&a, &line);
    }
    let mut a_got = a_events.lines(100);
    let mut b_got = b_events.lines(100);
    // Cut both of a's connections (reader and worker), then keep talking at once.
    let killed = redis.kill_clients_named(a.id());
    assert!(killed >= 2, "killed {killed} connections of {}", a.id());
    for line in numbered("a", 100..300) {
        say(&a, &line);
    }
    let (lost, lines) = a_events.until(|e| matches!(e, LinkEvent::LinkLost(_)));
    a_got.extend(lines);
    assert!(matches!(lost, LinkEvent::LinkLost(_)));
    let (back, lines) = a_events.until(|e| matches!(e, LinkEvent::LinkBack { .. }));
    a_got.extend(lines);
    assert_eq!(back, LinkEvent::LinkBack { gap: false });
    let missing = 300usize.saturating_sub(a_got.len());
    a_got.extend(a_events.lines(missing));
    b_got.extend(b_events.lines(200));
    assert_eq!(a_got, numbered("a", 0..300));
    assert_eq!(b_got, numbered("a", 0..300));
    // Nothing more is coming: no duplicate is on its way either.
    say(&a, "end");
    assert_eq!(a_events.lines(1), vec!["end".to_string()]);
    assert_eq!(b_events.lines(1), vec!["end".to_string()]);
}

#[test]
fn redis_killed_and_restarted_on_the_same_socket() {
    let mut redis = RedisServer::start();
    let (a, mut a_events) = open(&redis, "restart");
    let (b, mut b_events) = open(&redis, "restart");
    a.join("m1", "tcp");
    assert_eq!(a.claim_guest("m1").unwrap(), 1);
    b.join("m2", "websocket");
    assert_eq!(b.claim_guest("m2").unwrap(), 2);
    for line in numbered("a", 0..50) {
        say(&a, &line);
    }
    let mut a_got = a_events.lines(50);
    let mut b_got = b_events.lines(50);

    redis.kill9();
    for line in numbered("a", 50..100) {
        say(&a, &line); // queued while Redis is gone
    }
    let (lost, _) = b_events.until(|e| matches!(e, LinkEvent::LinkLost(_)));
    assert!(matches!(lost, LinkEvent::LinkLost(_)));
    assert!(
        a.claim_guest("m3").is_err(),
        "no guest numbers while the link is down"
    );
    redis.restart();

    for (link, events, got) in [
        (&a, &mut a_events, &mut a_got),
        (&b, &mut b_events, &mut b_got),
    ] {
        // The stream is new: the last entry delivered is gone, so a gap is possible and said.
        // The reader's LinkBack and the worker's Reregistered, in either order.
        let mut news = Vec::new();
        while news.len() < 2 {
            let (event, lines) =
                events.until(|e| matches!(e, LinkEvent::LinkBack { .. } | LinkEvent::Reregistered));
            got.extend(lines);
            news.push(event);
        }
        news.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            news,
            [LinkEvent::LinkBack { gap: true }, LinkEvent::Reregistered],
            "{}",
            link.id()
        );
    }
    let missing = 100usize.saturating_sub(a_got.len());
    a_got.extend(a_events.lines(missing));
    let missing = 100usize.saturating_sub(b_got.len());
    b_got.extend(b_events.lines(missing));
    assert_eq!(
        a_got,
        numbered("a", 0..100),
        "the queued lines came after the restart"
    );
    assert_eq!(b_got, a_got);
    // Presence and nicks were written back: the restarted counter does not reuse guest-1/2.
    let roster = a.roster().unwrap();
    let nicks: HashSet<Option<String>> = roster.iter().map(|p| p.nick.clone()).collect();
    assert_eq!(
        nicks,
        HashSet::from([Some("guest-1".to_string()), Some("guest-2".to_string())])
    );
    assert_eq!(b.claim_guest("m4").unwrap(), 3);

    // Killed again in the middle of a burst: whatever arrives, arrives once, in order, and
    // the burst completes.
    let burst = std::thread::scope(|s| {
        let talker = s.spawn(|| {
            let mut accepted = 0;
            for line in numbered("z", 0..2000) {
                if a.publish(&[("line", &line)]).is_ok() {
                    accepted += 1;
                }
            }
            accepted
        });
        let first = b_events.lines(100);
        redis.restart();
        assert_eq!(
            talker.join().unwrap(),
            2000,
            "the queue holds the whole burst"
        );
        first
    });
    let mut z = burst;
    let deadline = Instant::now() + PATIENCE;
    while z.last().map(String::as_str) != Some("z1999") && Instant::now() < deadline {
        if let LinkEvent::Entry(entry) = b_events.next() {
            z.push(line_of(&entry));
        }
    }
    assert_eq!(
        z.last().map(String::as_str),
        Some("z1999"),
        "the burst completes"
    );
    let unique: HashSet<&String> = z.iter().collect();
    assert_eq!(unique.len(), z.len(), "a line was delivered twice");
    let positions: Vec<usize> = z.iter().map(|l| l[1..].parse().unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order");
}

#[test]
fn a_vanished_process_has_its_members_reported_gone_once() {
    let redis = RedisServer::start();
    let (a, mut a_events) = open(&redis, "presence");
    let (b, mut b_events) = open(&redis, "presence");
    let (c, _c_events) = open(&redis, "presence");
    c.join("c1", "tcp");
    c.join("c2", "udp");
    assert!(c.claim_nick("c1", "carol").unwrap());
    a.join("a1", "websocket");
    assert!(common::eventually(|| a.roster().unwrap().len() == 3));
    let roster = b.roster().unwrap();
    let carol = roster.iter().find(|p| p.member == "c1").unwrap();
    assert_eq!(
        carol,
        &Present {
            process: c.id().to_string(),
            member: "c1".into(),
            nick: Some("carol".into()),
            info: "tcp".into()
        }
    );
    assert!(
        !b.claim_nick("b1", "carol").unwrap(),
        "carol is taken on another process"
    );

    let c_id = c.id().to_string();
    c.crash(); // as kill -9: no goodbye, the presence key just stops being refreshed
    let started = Instant::now();
    for events in [&mut a_events, &mut b_events] {
        let mut gone = Vec::new();
        while gone.len() < 2 {
            let (event, _) = events.until(|e| matches!(e, LinkEvent::Gone { .. }));
            gone.push(event);
        }
        gone.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            gone,
            vec![
                LinkEvent::Gone {
                    process: c_id.clone(),
                    member: "c1".into(),
                    nick: Some("carol".into()),
                    info: "tcp".into()
                },
                LinkEvent::Gone {
                    process: c_id.clone(),
                    member: "c2".into(),
                    nick: None,
                    info: "udp".into()
                },
            ]
        );
    }
    assert!(started.elapsed() < PATIENCE);
    // Once: no third Gone comes after a line said now.
    say(&a, "after");
    let mut rest = Vec::new();
    loop {
        match b_events.next() {
            LinkEvent::Entry(entry) if line_of(&entry) == "after" => break,
            other => rest.push(other),
        }
    }
    assert!(
        rest.iter().all(|e| !matches!(e, LinkEvent::Gone { .. })),
        "reported twice: {rest:?}"
    );
    let roster = a.roster().unwrap();
    assert_eq!(
        roster.iter().map(|p| p.member.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    assert!(
        b.claim_nick("b1", "carol").unwrap(),
        "a gone member's nick is free again"
    );

    // A link closed in order reports its remaining members too.
    b.join("b1", "tcp");
    assert!(common::eventually(|| a.roster().unwrap().len() == 2));
    let b_id = b.id().to_string();
    say(&b, "last words");
    b.close();
    let (gone, lines) = a_events.until(|e| matches!(e, LinkEvent::Gone { .. }));
    assert!(
        lines.ends_with(&["last words".to_string()]),
        "a line said just before close goes out first: {lines:?}"
    );
    assert_eq!(
        gone,
        LinkEvent::Gone {
            process: b_id,
            member: "b1".into(),
            nick: Some("carol".into()),
            info: "tcp".into()
        }
    );
}

#[test]
fn guest_numbers_and_nicks_are_unique_across_processes() {
    let redis = RedisServer::start();
    let links: Vec<(Link, Events)> = (0..3).map(|_| open(&redis, "names")).collect();
    let mut numbers: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = links
            .iter()
            .enumerate()
            .map(|(i, (link, _))| {
                s.spawn(move || {
                    (0..50)
                        .map(|n| link.claim_guest(&format!("{i}-{n}")).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    numbers.sort();
    assert_eq!(numbers, (1..=150).collect::<Vec<u64>>());

    let (a, b, c) = (&links[0].0, &links[1].0, &links[2].0);
    assert!(a.claim_nick("0-0", "alice").unwrap());
    assert!(!b.claim_nick("1-0", "alice").unwrap());
    assert!(
        a.claim_nick("0-0", "alice").unwrap(),
        "a member may claim its own nick again"
    );
    // Renaming gives the old nick (here guest-N, then alice) back.
    assert!(a.claim_nick("0-0", "alicia").unwrap());
    assert!(b.claim_nick("1-0", "alice").unwrap());
    // Leaving gives the nick back (the worker writes it out shortly).
    a.join("0-0", "tcp");
    a.leave("0-0");
    assert!(common::eventually(|| c
        .claim_nick("2-0", "alicia")
        .unwrap()));
}

#[test]
fn past_the_queue_a_line_is_refused_not_dropped() {
    let mut redis = RedisServer::start();
    let (a, mut a_events) = open_with(&redis, "queue", |c| c.queue = 5);
    say(&a, "before");
    assert_eq!(a_events.lines(1), vec!["before".to_string()]);
    redis.kill9();
    a_events.until(|e| matches!(e, LinkEvent::LinkLost(_)));
    let mut accepted = Vec::new();
    let mut refused = None;
    for line in numbered("q", 0..1000) {
        match a.publish(&[("line", &line)]) {
            Ok(()) => accepted.push(line),
            Err(not) => {
                refused = Some(not);
                break;
            }
        }
    }
    let refused = refused.expect("a full queue refuses");
    assert!(refused.why.contains("queue is full"), "{}", refused.why);
    assert_eq!(
        refused.fields,
        vec![("line".to_string(), format!("q{}", accepted.len()))]
    );
    assert!(accepted.len() <= 5 + 256, "{} accepted", accepted.len());
    redis.restart();
    a_events.until(|e| matches!(e, LinkEvent::LinkBack { .. }));
    assert_eq!(a_events.lines(accepted.len()), accepted);
    assert!(
        a.publish(&[("_p", "forged")])
            .unwrap_err()
            .why
            .contains("reserved"),
        "the link's own fields cannot be forged"
    );
}

/// A process the others took for dead (its presence key expired during a stall) is reported
/// gone, then writes itself back and says so.
#[test]
fn a_process_reaped_while_alive_registers_again() {
    let redis = RedisServer::start();
    let (a, mut a_events) = open(&redis, "stall");
    let (b, mut b_events) = open(&redis, "stall");
    a.join("a1", "tcp");
    assert!(a.claim_nick("a1", "anna").unwrap());
    assert!(common::eventually(|| b.roster().unwrap().len() == 1));
    a.pause_presence(true);
    let (gone, _) = b_events.until(|e| matches!(e, LinkEvent::Gone { .. }));
    assert_eq!(
        gone,
        LinkEvent::Gone {
            process: a.id().to_string(),
            member: "a1".into(),
            nick: Some("anna".into()),
            info: "tcp".into()
        }
    );
    a.pause_presence(false);
    a_events.until(|e| *e == LinkEvent::Reregistered);
    let roster = b.roster().unwrap();
    assert_eq!(
        roster,
        vec![Present {
            process: a.id().to_string(),
            member: "a1".into(),
            nick: Some("anna".into()),
            info: "tcp".into()
        }]
    );
    assert!(!b.claim_nick("b1", "anna").unwrap(), "anna is anna's again");
}
