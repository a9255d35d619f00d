//! End to end: the chat page in a real browser (Debian's headless Chromium), used as a person
//! would use it, in one room with TCP and UDP members.
//!
//! `make e2e` runs these; `make test` skips them (they need Chromium). Chromium is driven over
//! the DevTools Protocol, which is JSON over a WebSocket, spoken with plainsock's own client.

mod common;
mod e2e;

use common::{TcpChat, UdpChat};
use e2e::chromium::{Chromium, PATIENCE, Page, artifacts_dir};
use e2e::json::Json;
use plainsock::{Server, ServerConfig};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// JavaScript: the text of every line the page lists, oldest first.
const LINES: &str = "[...document.querySelectorAll('#messages li.line')].map(li => li.textContent)";
/// JavaScript: the connection state the page shows.
const STATE: &str = "document.getElementById('state').textContent";
/// JavaScript: the member count the page shows.
const COUNT: &str = "document.getElementById('count').textContent";

fn start_server() -> Server {
    Server::start(ServerConfig::ephemeral()).expect("server starts")
}

/// Opens the chat page and waits until it is online and has been welcomed.
fn open_chat(browser: &mut Chromium, server: &Server) -> Page {
    let addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut page = browser.open(&format!("http://{addr}/"));
    wait_for_state(&mut page, "online");
    wait_for_lines(
        &mut page,
        "l.startsWith('* welcome, you are ')",
        1,
        "the welcome",
    );
    page
}

fn wait_for_count(page: &mut Page, count: &str) {
    page.wait_for(
        &format!("{COUNT} === {}", Json::from(count)),
        &format!("the member count {count}"),
    );
}

fn wait_for_state(page: &mut Page, state: &str) {
    page.wait_for(
        &format!("{STATE} === {}", Json::from(state)),
        &format!("the state {state:?}"),
    );
}

/// Waits until the page lists the line `text`.
fn wait_for_line(page: &mut Page, text: &str) {
    page.wait_for(
        &format!("{LINES}.includes({})", Json::from(text)),
        &format!("the line {text:?}"),
    );
}

/// Waits until at least `count` listed lines `l` pass the JavaScript test `test`.
fn wait_for_lines(page: &mut Page, test: &str, count: usize, what: &str) {
    page.wait_for(
        &format!("{LINES}.filter(l => {test}).length >= {count}"),
        what,
    );
}

/// Types a nick into the nick field and presses Enter; waits for the room to confirm it.
fn set_nick(page: &mut Page, nick: &str) {
    page.focus("nick");
    // Select what is there, so typing replaces the guest name, as a person would do.
    page.eval("document.getElementById('nick').select()");
    page.type_text(nick);
    page.press_enter();
    let confirmed = format!("l.endsWith({})", Json::from(format!(" is now {nick}")));
    wait_for_lines(page, &confirmed, 1, &format!("the room to call us {nick}"));
}

/// Types a message into the input and presses Enter.
fn say(page: &mut Page, text: &str) {
    page.enter("input", text);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn the_page_chats_with_tcp_and_udp_members() {
    let server = start_server();
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    let mut browser = Chromium::launch("chat");
    let mut page = open_chat(&mut browser, &server);

    set_nick(&mut page, "alice");
    say(&mut page, "hello from the browser");
    tcp.expect("alice: hello from the browser");
    udp.expect("alice: hello from the browser");
    let input = page.eval("document.getElementById('input').value");
    assert_eq!(
        input.as_str(),
        Some(""),
        "the input is cleared after sending"
    );

    tcp.send("hello, page");
    wait_for_line(&mut page, &format!("{}: hello, page", tcp.nick));
    udp.send("and hello from UDP");
    wait_for_line(&mut page, &format!("{}: and hello from UDP", udp.nick));

    // A chat line is text, never markup: the tag shows as typed and no image element exists
    // (its onerror would have run the script).
    page.eval("window.alerted = false; window.alert = () => { window.alerted = true; }");
    let attack = "<img src=x onerror=alert(1)>";
    tcp.send(attack);
    wait_for_line(&mut page, &format!("{}: {attack}", tcp.nick));
    let images = page.eval("document.querySelectorAll('#messages img').length");
    assert_eq!(images.as_f64(), Some(0.0), "a chat line became an <img>");
    assert_eq!(page.eval("window.alerted").as_bool(), Some(false));

    say(&mut page, "see you");
    tcp.expect("alice: see you");
    wait_for_count(&mut page, "3");
    page.screenshot(&artifacts_dir().join("chat.png"));
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn two_pages_chat_with_each_other() {
    let server = start_server();
    let mut browser = Chromium::launch("two-pages");
    let mut ann = open_chat(&mut browser, &server);
    let mut bob = open_chat(&mut browser, &server);
    set_nick(&mut ann, "ann");
    set_nick(&mut bob, "bob");
    wait_for_count(&mut ann, "2");
    wait_for_count(&mut bob, "2");

    say(&mut ann, "hi bob");
    wait_for_line(&mut bob, "ann: hi bob");
    say(&mut bob, "hi ann, é and 😀 arrive intact");
    wait_for_line(&mut ann, "bob: hi ann, é and 😀 arrive intact");

    // Each page marks its own lines, and only those. The room keeps one order, so ann's own
    // line came back to her before bob's answer, which she has.
    let mine = "[...document.querySelectorAll('#messages li.mine')].map(li => li.textContent)";
    let ann_mine = ann.eval(mine);
    assert_eq!(ann_mine, Json::Array(vec!["ann: hi bob".into()]));
    wait_for_line(&mut bob, "bob: hi ann, é and 😀 arrive intact");
    let bob_mine = bob.eval(mine);
    assert_eq!(
        bob_mine,
        Json::Array(vec!["bob: hi ann, é and 😀 arrive intact".into()])
    );
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn the_page_reconnects_when_the_server_comes_back() {
    let server = start_server();
    let ws_addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut browser = Chromium::launch("reconnect");
    let mut page = open_chat(&mut browser, &server);
    set_nick(&mut page, "carol");

    assert!(server.shutdown(), "the server stops within its grace time");
    wait_for_state(&mut page, "reconnecting");
    // With the reason and code of the server's Close frame.
    wait_for_line(&mut page, "* disconnected: server shutting down (1001)");
    wait_for_count(&mut page, "–");

    // The same address again, as a restarted `plainsock serve` would have.
    let server = start_server_on(ws_addr);
    wait_for_state(&mut page, "online");
    wait_for_lines(
        &mut page,
        "l.startsWith('* welcome, you are ')",
        2,
        "a second welcome",
    );
    // The page asks for its nick back by itself.
    wait_for_lines(&mut page, "l.endsWith(' is now carol')", 2, "carol again");

    wait_for_count(&mut page, "1");

    let mut tcp = TcpChat::join(&server);
    wait_for_count(&mut page, "2");
    say(&mut page, "back again");
    tcp.expect("carol: back again");
}

/// How many listed lines are exactly `text`.
fn lines_equal_to(page: &mut Page, text: &str) -> f64 {
    let js = format!("{LINES}.filter(l => l === {}).length", Json::from(text));
    page.eval(&js).as_f64().unwrap_or(-1.0)
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_line_over_the_servers_limit_stays_in_the_input_with_the_reason() {
    let server = start_server();
    let mut tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("limit");
    let mut page = open_chat(&mut browser, &server);
    set_nick(&mut page, "erin");

    // The welcome said "lines up to 8192 bytes": the page measures UTF-8 bytes, not characters.
    say(&mut page, &"x".repeat(10_000));
    wait_for_line(
        &mut page,
        "* too long: 10000 bytes; the server takes lines of up to 8192 bytes",
    );
    let euros = "€".repeat(2731); // 2,731 characters, 8,193 bytes
    page.eval("document.getElementById('input').value = ''");
    say(&mut page, &euros);
    wait_for_line(
        &mut page,
        "* too long: 8193 bytes; the server takes lines of up to 8192 bytes",
    );
    let input = page.eval("document.getElementById('input').value");
    assert_eq!(
        input.as_str(),
        Some(euros.as_str()),
        "the line stays, to be shortened"
    );
    let marked = page.eval("document.getElementById('input').classList.contains('over')");
    assert_eq!(
        marked.as_bool(),
        Some(true),
        "the input shows it is over the limit"
    );

    // Still the same member: nothing was sent, nobody was disconnected.
    page.eval("document.getElementById('input').value = ''");
    let longest = "y".repeat(8192);
    say(&mut page, &longest);
    let skipped = tcp.expect(&format!("erin: {longest}"));
    assert!(
        skipped
            .iter()
            .all(|l| !l.contains("xxx") && !l.contains('€')),
        "{skipped:?}"
    );
    assert_eq!(page.eval(STATE).as_str(), Some("online"));
    let disconnects = page.eval(&format!(
        "{LINES}.filter(l => l.startsWith('* disconnected')).length"
    ));
    assert_eq!(disconnects.as_f64(), Some(0.0));
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn after_quit_one_enter_rejoins_and_history_shows_once() {
    let server = start_server();
    let mut tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("rejoin");
    let mut page = open_chat(&mut browser, &server);
    set_nick(&mut page, "dave");
    tcp.send("one");
    tcp.send("two");
    let two = format!("{}: two", tcp.nick);
    wait_for_line(&mut page, &two);

    say(&mut page, "/quit");
    wait_for_line(&mut page, "* you left; send a line to join again");
    wait_for_state(&mut page, "offline");
    tcp.expect("* dave left (1 online)");
    tcp.send("three"); // said while the page was away: its history brings it

    // One Enter: the page joins again, takes its nick back and says the line.
    say(&mut page, "back again");
    tcp.expect("dave: back again");
    wait_for_line(&mut page, "dave: back again");
    let three = format!("{}: three", tcp.nick);
    for line in [format!("{}: one", tcp.nick), two, three] {
        assert_eq!(lines_equal_to(&mut page, &line), 1.0, "{line} once");
    }
    let input = page.eval("document.getElementById('input').value");
    assert_eq!(input.as_str(), Some(""), "the line was sent");
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_full_room_says_so_and_the_page_joins_when_there_is_room() {
    let server = Server::start(ServerConfig {
        max_conns: 1,
        ..ServerConfig::ephemeral()
    })
    .expect("server starts");
    let tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("full");
    let addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut page = browser.open(&format!("http://{addr}/"));
    let why = "* cannot join: the room is full; try again later";
    wait_for_line(&mut page, why);
    wait_for_state(&mut page, "room full");

    drop(tcp);
    wait_for_state(&mut page, "online");
    wait_for_lines(
        &mut page,
        "l.startsWith('* welcome, you are ')",
        1,
        "the welcome",
    );
    assert_eq!(
        lines_equal_to(&mut page, why),
        1.0,
        "the reason is shown once"
    );
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_page_from_an_origin_the_server_does_not_know_is_told_why() {
    let server = start_server();
    let proxy = HostRewritingProxy::start(server.ws_addr().expect("the HTTP listener"));
    let mut browser = Chromium::launch("origin");
    let mut page = browser.open(&format!("http://{}/", proxy.addr));
    wait_for_line(
        &mut page,
        "* cannot join: this server takes chat connections only from its own pages \
         (and from origins given with --allow-origin)",
    );
    wait_for_state(&mut page, "refused");
}

/// A reverse proxy as nginx is by default (`proxy_set_header Host $proxy_host`): each
/// connection is passed on to `upstream` with its `Host` rewritten to upstream's address. A
/// page loaded through it has the proxy's origin, which the server does not know as its own.
struct HostRewritingProxy {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
}

impl HostRewritingProxy {
    fn start(upstream: SocketAddr) -> HostRewritingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let accepter = thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(client) = client {
                    thread::spawn(move || relay(client, upstream));
                }
            }
        });
        HostRewritingProxy {
            addr,
            stopping,
            accepter: Some(accepter),
        }
    }
}

impl Drop for HostRewritingProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// One proxied connection: the request head with its `Host` rewritten, then bytes both ways
/// until either side closes (every read bounded by PATIENCE).
fn relay(client: TcpStream, upstream: SocketAddr) {
    let _ = client.set_read_timeout(Some(PATIENCE));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match (&client).read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let rewritten: String = String::from_utf8_lossy(&head)
        .split_inclusive("\r\n")
        .map(
            |line| match line.to_ascii_lowercase().starts_with("host:") {
                true => format!("Host: {upstream}\r\n"),
                false => line.to_string(),
            },
        )
        .collect();
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(PATIENCE));
    if (&server).write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    let (back_from, back_to) = (server.try_clone(), client.try_clone());
    let back = thread::spawn(move || {
        if let (Ok(mut from), Ok(mut to)) = (back_from, back_to) {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        }
    });
    let _ = io::copy(&mut &client, &mut &server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// Starts a server whose WebSocket listener is `addr`, retrying for a while: the old
/// listener's port may take a moment to be free again.
fn start_server_on(addr: SocketAddr) -> Server {
    let config = ServerConfig {
        ws: Some(addr.to_string()),
        ..ServerConfig::ephemeral()
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        match Server::start(config.clone()) {
            Ok(server) => return server,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying: {e}");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("cannot listen on {addr} again: {e}"),
        }
    }
}
