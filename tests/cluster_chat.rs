//! One room across three real `plainsock serve --cluster` processes and a real `redis-server`:
//! one order for everyone, names and presence across processes, and what a lost link, a
//! killed Redis and a killed process look like to the members.

mod common;

use common::redis::RedisServer;
use common::{PATIENCE, TcpChat, UdpChat, WsChat, nick_from_welcome, pipe_lines, ws_join_with};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One `plainsock serve` process in the room, killed (kill -9) on drop.
struct Serve {
    child: Child,
    tcp: SocketAddr,
    udp: SocketAddr,
    ws: SocketAddr,
}

impl Serve {
    /// Starts the real binary on free ports; ready once its banner names all three listeners.
    fn start(redis: &RedisServer) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plainsock"))
            .args(["serve", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(["--ws", "127.0.0.1:0", "--max-per-ip", "0", "--quiet"])
            .args(["--cluster", &redis.url()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run plainsock serve");
        let lines = pipe_lines(child.stdout.take().expect("stdout"));
        let (mut tcp, mut udp, mut ws) = (None, None, None);
        for _ in 0..10 {
            let line = lines
                .recv_timeout(PATIENCE)
                .expect("serve prints its listeners");
            let mut words = line.split_whitespace();
            let (Some(kind), Some(addr)) = (words.next(), words.next()) else {
                continue;
            };
            let addr = addr.parse().ok();
            match kind {
                "tcp" => tcp = addr,
                "udp" => udp = addr,
                "ws" => ws = addr,
                _ => {}
            }
            if tcp.is_some() && udp.is_some() && ws.is_some() {
                break;
            }
        }
        Serve {
            child,
            tcp: tcp.expect("tcp address in the banner"),
            udp: udp.expect("udp address in the banner"),
            ws: ws.expect("ws address in the banner"),
        }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn tcp(serve: &Serve) -> TcpChat {
    let mut chat = TcpChat::connect(serve.tcp);
    chat.nick = nick_from_welcome(&chat.line());
    chat
}

fn udp(serve: &Serve) -> UdpChat {
    let mut chat = UdpChat::connect(serve.udp);
    chat.send_raw(b"");
    chat.nick = nick_from_welcome(&chat.line());
    chat
}

fn ws(serve: &Serve) -> WsChat {
    ws_join_with(serve.ws, "").expect("websocket join")
}

/// Any member, whatever its transport.
enum Member {
    Tcp(TcpChat),
    Udp(UdpChat),
    Ws(Box<WsChat>),
}

impl Member {
    fn nick(&self) -> &str {
        match self {
            Member::Tcp(c) => &c.nick,
            Member::Udp(c) => &c.nick,
            Member::Ws(c) => &c.nick,
        }
    }
    fn send(&mut self, line: &str) {
        match self {
            Member::Tcp(c) => c.send(line),
            Member::Udp(c) => c.send(line),
            Member::Ws(c) => c.send(line),
        }
    }
    fn line(&mut self) -> String {
        match self {
            Member::Tcp(c) => c.line(),
            Member::Udp(c) => c.line(),
            Member::Ws(c) => c.line(),
        }
    }
    /// Reads until `want`; the lines before it.
    fn expect(&mut self, want: &str) -> Vec<String> {
        match self {
            Member::Tcp(c) => c.expect(want),
            Member::Udp(c) => c.expect(want),
            Member::Ws(c) => c.expect(want),
        }
    }
}

/// The chat messages (not the `* notices`) among `lines`.
fn messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| !l.starts_with("* "))
        .cloned()
        .collect()
}

/// The process ids of the room's links, from the names they give themselves in Redis.
fn link_ids(redis: &RedisServer) -> HashSet<String> {
    let list = redis.connect().command(&["CLIENT", "LIST"]).unwrap();
    let list = list.as_str().unwrap_or_default().to_string();
    list.split_whitespace()
        .filter_map(|kv| kv.strip_prefix("name=plainsock-main-"))
        .filter_map(|rest| rest.split('-').next().map(str::to_string))
        .collect()
}

#[test]
fn members_on_three_processes_and_three_transports_see_every_line_once_in_one_order() {
    let redis = RedisServer::start();
    let procs = [
        Serve::start(&redis),
        Serve::start(&redis),
        Serve::start(&redis),
    ];
    let mut members = Vec::new();
    for serve in &procs {
        members.push(Member::Tcp(tcp(serve)));
        members.push(Member::Udp(udp(serve)));
        members.push(Member::Ws(Box::new(ws(serve))));
    }
    let nicks: HashSet<&str> = members.iter().map(Member::nick).collect();
    assert_eq!(nicks.len(), 9, "guest names are unique across processes");

    // Everyone talks at once: 9 members × 20 lines, interleaved.
    const EACH: usize = 20;
    for i in 0..EACH {
        for (m, member) in members.iter_mut().enumerate() {
            member.send(&format!("m{m} line {i}"));
        }
    }
    // Lines from different processes have no order until Redis gives them one, so each member
    // reads until it has every member's last line.
    let lasts: Vec<String> = members
        .iter()
        .enumerate()
        .map(|(m, member)| format!("{}: m{m} line {}", member.nick(), EACH - 1))
        .collect();
    let mut seen = Vec::new();
    for member in &mut members {
        let mut got = Vec::new();
        let mut waiting: HashSet<&String> = lasts.iter().collect();
        for _ in 0..10_000 {
            if waiting.is_empty() {
                break;
            }
            let line = member.line();
            waiting.remove(&line);
            got.push(line);
        }
        assert!(
            waiting.is_empty(),
            "{}: never got {waiting:?}",
            member.nick()
        );
        seen.push(messages(&got));
    }
    for (m, got) in seen.iter().enumerate() {
        assert_eq!(got.len(), 9 * EACH, "member {m}: every line, once: {got:?}");
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!(distinct.len(), got.len(), "member {m}: no line twice");
        assert_eq!(got, &seen[0], "member {m} saw another order than member 0");
    }
    // Each member's own lines in the order it said them.
    for (m, member) in members.iter().enumerate() {
        let said: Vec<&String> = seen[0]
            .iter()
            .filter(|l| l.contains(&format!(": m{m} line ")))
            .collect();
        let want: Vec<String> = (0..EACH)
            .map(|i| format!("{}: m{m} line {i}", member.nick()))
            .collect();
        assert_eq!(said, want.iter().collect::<Vec<_>>());
    }
}

#[test]
fn who_lists_the_whole_room_and_nicks_are_unique_across_processes() {
    let redis = RedisServer::start();
    let a = Serve::start(&redis);
    let b = Serve::start(&redis);
    let c = Serve::start(&redis);
    let mut alice = tcp(&a);
    let mut bob = udp(&b);
    let mut carol = ws(&c);

    let was = alice.nick.clone();
    alice.send("/nick alice");
    alice.expect(&format!("* {was} is now alice"));
    bob.expect(&format!("* {was} is now alice"));
    carol.expect(&format!("* {was} is now alice"));
    bob.send("/nick alice");
    bob.expect("* error: the nick alice is taken");
    bob.send("/nick ALICE2");
    carol.expect(&format!("* {} is now ALICE2", bob.nick));

    carol.send("/who");
    let who = carol.expect_prefix("* 3 online: ");
    for want in [
        "alice (tcp from 127.0.0.1:",
        "ALICE2 (udp from 127.0.0.1:",
        &format!("{} (websocket from 127.0.0.1:", carol.nick),
    ] {
        assert!(who.contains(want), "{who}");
    }
    // `* 3 online: alice (tcp from 127.0.0.1:PORT, PROCESS), …`
    let listed = who.trim_start_matches("* 3 online: ").trim_end_matches(')');
    let processes: HashSet<&str> = listed
        .split("), ")
        .filter_map(|part| part.rsplit(", ").next())
        .collect();
    assert_eq!(processes.len(), 3, "three processes named: {who}");
    assert_eq!(
        processes,
        link_ids(&redis).iter().map(String::as_str).collect()
    );

    // Leaving gives the nick back room-wide.
    alice.send("/quit");
    carol.expect("* alice left (2 online)");
    bob.send("/nick alice");
    carol.expect("* ALICE2 is now alice");
}

#[test]
fn redis_killed_mid_burst_and_restarted_loses_nothing_delivered_and_the_burst_completes() {
    let mut redis = RedisServer::start();
    let procs = [
        Serve::start(&redis),
        Serve::start(&redis),
        Serve::start(&redis),
    ];
    let mut members: Vec<Member> = procs.iter().map(|s| Member::Tcp(tcp(s))).collect();
    let speaker = members[0].nick().to_string();

    // The first half of the burst reaches everyone.
    for i in 0..30 {
        members[0].send(&format!("burst {i}"));
    }
    let mut before = Vec::new();
    for member in &mut members {
        let last = format!("{speaker}: burst 29");
        let mut lines = messages(&member.expect(&last));
        lines.push(last);
        before.push(lines);
    }

    redis.kill9();
    for member in &mut members {
        member.expect("* cluster link lost; reconnecting");
    }
    // The second half is said while Redis is away: each line is queued and delivered after
    // the restart, or its sender is told; none is dropped silently.
    for i in 30..60 {
        members[0].send(&format!("burst {i}"));
    }
    redis.restart();
    members[0].send("after");
    let mut after = Vec::new();
    for member in &mut members {
        after.push(member.expect(&format!("{speaker}: after")));
    }
    let refused = after[0]
        .iter()
        .filter(|l| l.starts_with("* error: your line was not delivered"))
        .count();
    for (m, lines) in after.iter().enumerate() {
        assert!(
            lines.iter().any(|l| l.starts_with("* cluster link back")),
            "member {m}: {lines:?}"
        );
        let mut got = before[m].clone();
        got.extend(messages(lines));
        // 0..29 as before; then 30..59 in order, less the refused (told to the speaker).
        let want: Vec<String> = (0..60).map(|i| format!("{speaker}: burst {i}")).collect();
        assert_eq!(&got[..30], &want[..30], "member {m}: lost what it had");
        assert_eq!(got.len(), 60 - refused, "member {m}: {got:?}");
        let rest: Vec<&String> = want[30..].iter().filter(|w| got.contains(w)).collect();
        assert_eq!(
            got[30..].iter().collect::<Vec<_>>(),
            rest,
            "member {m}: once each, in order"
        );
        assert_eq!(
            got,
            messages_of(&after[0], &before[0]),
            "member {m}: one order"
        );
    }
}

fn messages_of(after: &[String], before: &[String]) -> Vec<String> {
    let mut all = before.to_vec();
    all.extend(messages(after));
    all
}

#[test]
fn a_process_whose_link_is_killed_catches_up_without_doubles() {
    let redis = RedisServer::start();
    let a = Serve::start(&redis);
    let known = link_ids(&redis);
    let b = Serve::start(&redis);
    let b_id = link_ids(&redis)
        .difference(&known)
        .next()
        .cloned()
        .expect("the second process's link id");
    let mut alice = tcp(&a);
    let mut bob = tcp(&b);
    for i in 0..10 {
        alice.send(&format!("line {i}"));
    }
    let mut got = messages(&bob.expect(&format!("{}: line 9", alice.nick)));
    got.push(format!("{}: line 9", alice.nick));

    assert!(
        redis.kill_clients_named(&b_id) >= 2,
        "b's link connections killed"
    );
    let lost = bob.expect("* cluster link lost; reconnecting");
    got.extend(messages(&lost));
    for i in 10..20 {
        alice.send(&format!("line {i}"));
    }
    alice.send("done");
    let rest = bob.expect(&format!("{}: done", alice.nick));
    assert!(rest.iter().any(|l| l == "* cluster link back"), "{rest:?}");
    got.extend(messages(&rest));
    let want: Vec<String> = (0..20)
        .map(|i| format!("{}: line {i}", alice.nick))
        .collect();
    assert_eq!(got, want, "every line once, in order, across the cut");
}

#[test]
fn members_of_a_killed_process_are_announced_gone() {
    let redis = RedisServer::start();
    let a = Serve::start(&redis);
    let b = Serve::start(&redis);
    let mut c = Serve::start(&redis);
    let mut alice = tcp(&a);
    let mut bob = ws(&b);
    let carol = tcp(&c);
    let dave = udp(&c);
    alice.expect_prefix(&format!("* {} joined", dave.nick));
    bob.expect_prefix(&format!("* {} joined", dave.nick));

    c.kill9();
    // Presence TTL (5 s) plus one refresh (1.5 s): the bound is three times that.
    let bound = Some(Duration::from_secs(20));
    alice.stream.set_read_timeout(bound).unwrap();
    bob.socket.get_ref().set_read_timeout(bound).unwrap();
    let gone = |nick: &str| format!("* {nick} left (its server process is gone)");
    let mut want = vec![gone(&carol.nick), gone(&dave.nick)];
    want.sort();
    let first = alice.expect_prefix("* guest-");
    let second = alice.expect_prefix("* guest-");
    let mut got = vec![first.clone(), second.clone()];
    got.sort();
    assert_eq!(got, want);
    // Once, in the same order, for the other process's members too.
    assert_eq!(bob.expect_prefix("* guest-"), first);
    assert_eq!(bob.expect_prefix("* guest-"), second);
    alice.send("/who");
    let who = alice.expect_prefix("* 2 online: ");
    assert!(
        !who.contains(&carol.nick) && !who.contains(&dave.nick),
        "{who}"
    );
    alice.send("still here");
    let after = bob.expect(&format!("{}: still here", alice.nick));
    assert!(
        after.iter().all(|l| !l.contains("left")),
        "gone only once: {after:?}"
    );
}

#[test]
fn a_newcomer_on_a_process_started_later_gets_the_history_from_the_stream() {
    let redis = RedisServer::start();
    let a = Serve::start(&redis);
    let mut alice = tcp(&a);
    alice.send("first");
    alice.send("second");
    alice.expect(&format!("{}: second", alice.nick));

    let b = Serve::start(&redis);
    let mut bob = TcpChat::connect(b.tcp);
    let welcome = bob.line();
    assert!(
        welcome.ends_with("; the last 2 messages follow)"),
        "{welcome}"
    );
    assert_eq!(bob.line(), format!("{}: first", alice.nick));
    assert_eq!(bob.line(), format!("{}: second", alice.nick));
    bob.nick = nick_from_welcome(&welcome);
    assert_eq!(bob.line(), format!("* {} joined (2 online)", bob.nick));
}
