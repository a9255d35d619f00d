//! End to end: the chat page in a real browser (Debian's headless Chromium), used as a person
//! would use it, in one room with TCP and UDP members.
//!
//! `make e2e` runs these; `make test` skips them (they need Chromium). Chromium is driven over
//! the DevTools Protocol, which is JSON over a WebSocket, spoken with plainsock's own client.

mod common;
mod e2e;

use common::{TcpChat, UdpChat};
use e2e::chat_page::{
    LINES, STATE, VIA, open_chat_at, say, set_nick, wait_for_count, wait_for_line, wait_for_lines,
    wait_for_state,
};
use e2e::chromium::{Chromium, PATIENCE, Page, artifacts_dir};
use e2e::json::Json;
use plainsock::{Server, ServerConfig};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn start_server() -> Server {
    Server::start(ServerConfig::ephemeral()).expect("server starts")
}

/// How a page joins the room: where it is opened, and what it shows for that.
#[derive(Clone, Copy)]
struct Via {
    path: &'static str,
    /// The transport its header names.
    name: &'static str,
    /// Its line when the server shuts down under it, as a JavaScript test on `l`.
    shutdown: &'static str,
}

const WEBSOCKET: Via = Via {
    path: "/",
    name: "WebSocket",
    // With the reason and code of the server's Close frame.
    shutdown: "l === '* disconnected: server shutting down (1001)'",
};

/// Long polling, forced by the page's address.
const POLLING: Via = Via {
    path: "/?transport=polling",
    name: "long polling",
    // Engine.IO's close packet has no reason, and a poll sent just then finds the session
    // gone, or the connection closed.
    shutdown: "l.startsWith('* disconnected (')",
};

/// Opens the server's chat page and waits until it is online and has been welcomed.
fn open_chat(browser: &mut Chromium, server: &Server) -> Page {
    open_chat_via(browser, server, WEBSOCKET)
}

/// Opens the chat page at `via`'s path; waits until it is online, welcomed, and its header
/// names `via`'s transport.
fn open_chat_via(browser: &mut Chromium, server: &Server, via: Via) -> Page {
    let addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut page = open_chat_at(browser, &format!("http://{addr}{}", via.path));
    assert_eq!(page.eval(VIA).as_str(), Some(via.name), "the header");
    page
}

/// A server that pings its WebSocket and Socket.IO members every half second and drops one
/// that has not answered a second later: a test outlives several pings.
fn start_server_pinging() -> Server {
    Server::start(ServerConfig {
        ping_interval: PING_INTERVAL,
        pong_timeout: PONG_TIMEOUT,
        ..ServerConfig::ephemeral()
    })
    .expect("server starts")
}

const PING_INTERVAL: Duration = Duration::from_millis(500);
const PONG_TIMEOUT: Duration = Duration::from_secs(1);

/// Waits long enough for the server to have pinged every member and to have dropped any
/// that did not answer (this waits for time itself, not for the server to be ready).
fn outlast_the_heartbeat() {
    thread::sleep(2 * (PING_INTERVAL + PONG_TIMEOUT));
}

/// How many listed lines pass the JavaScript test `test` on `l`.
fn lines_where(page: &mut Page, test: &str) -> f64 {
    let js = format!("{LINES}.filter(l => {test}).length");
    page.eval(&js).as_f64().unwrap_or(-1.0)
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
    reconnects_when_the_server_comes_back(WEBSOCKET);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn over_long_polling_the_page_reconnects_when_the_server_comes_back() {
    reconnects_when_the_server_comes_back(POLLING);
}

fn reconnects_when_the_server_comes_back(via: Via) {
    let server = start_server();
    let ws_addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut browser = Chromium::launch("reconnect");
    let mut page = open_chat_via(&mut browser, &server, via);
    set_nick(&mut page, "carol");

    assert!(server.shutdown(), "the server stops within its grace time");
    wait_for_state(&mut page, "reconnecting");
    wait_for_lines(&mut page, via.shutdown, 1, "the disconnection");
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
    lines_where(page, &format!("l === {}", Json::from(text)))
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_line_over_the_servers_limit_stays_in_the_input_with_the_reason() {
    line_over_the_limit_stays_in_the_input(WEBSOCKET);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn over_long_polling_a_line_over_the_limit_stays_in_the_input() {
    line_over_the_limit_stays_in_the_input(POLLING);
}

fn line_over_the_limit_stays_in_the_input(via: Via) {
    let server = start_server();
    let mut tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("limit");
    let mut page = open_chat_via(&mut browser, &server, via);
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
    assert_eq!(
        lines_where(&mut page, "l.startsWith('* disconnected')"),
        0.0
    );
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn after_quit_one_enter_rejoins_and_history_shows_once() {
    rejoins_after_quit(WEBSOCKET);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn over_long_polling_one_enter_after_quit_rejoins() {
    rejoins_after_quit(POLLING);
}

fn rejoins_after_quit(via: Via) {
    let server = start_server();
    let mut tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("rejoin");
    let mut page = open_chat_via(&mut browser, &server, via);
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
    assert_eq!(
        page.eval(VIA).as_str(),
        Some(via.name),
        "joined the same way"
    );
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_polling_page_and_a_websocket_page_chat_with_each_other_and_tcp_and_udp() {
    let server = start_server_pinging();
    let mut tcp = TcpChat::join(&server);
    let mut udp = UdpChat::join(&server);
    let mut browser = Chromium::launch("transports");
    let mut polly = open_chat_via(&mut browser, &server, POLLING);
    let mut wendy = open_chat_via(&mut browser, &server, WEBSOCKET);
    set_nick(&mut polly, "polly");
    set_nick(&mut wendy, "wendy");

    // JSON's special characters and non-ASCII, both ways through Socket.IO's encoding.
    let polled = r#"hello over long polling: "quoted", back\slash, é 😀"#;
    say(&mut polly, polled);
    tcp.expect(&format!("polly: {polled}"));
    udp.expect(&format!("polly: {polled}"));
    wait_for_line(&mut wendy, &format!("polly: {polled}"));
    say(&mut wendy, "hello over a WebSocket");
    tcp.expect("wendy: hello over a WebSocket");
    udp.expect("wendy: hello over a WebSocket");
    wait_for_line(&mut polly, "wendy: hello over a WebSocket");
    tcp.send(r#"from TCP: {"not": "json"} \u0041"#);
    udp.send("from UDP");
    for page in [&mut polly, &mut wendy] {
        wait_for_line(
            page,
            &format!(r#"{}: from TCP: {{"not": "json"}} \u0041"#, tcp.nick),
        );
        wait_for_line(page, &format!("{}: from UDP", udp.nick));
        wait_for_count(page, "4");
    }

    // Both pages stay through the heartbeat: the polling page answers the server's pings.
    outlast_the_heartbeat();
    say(&mut polly, "still here");
    tcp.expect("polly: still here");
    wait_for_line(&mut wendy, "polly: still here");
    tcp.send("/who");
    let who = tcp.expect_prefix("* 4 online: ");
    assert!(who.contains("polly (polling from 127.0.0.1:"), "{who}");
    assert!(who.contains("wendy (websocket from 127.0.0.1:"), "{who}");
    assert_eq!(who.matches("(polling from ").count(), 1, "{who}");
    assert_eq!(who.matches("(websocket from ").count(), 1, "{who}");
    for page in [&mut polly, &mut wendy] {
        assert_eq!(lines_where(page, "l.startsWith('* disconnected')"), 0.0);
    }
    polly.screenshot(&artifacts_dir().join("chat-polling.png"));
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_page_whose_websocket_a_proxy_blocks_chats_over_long_polling() {
    let server = start_server_pinging();
    let upstream = server.ws_addr().expect("the HTTP listener");
    let proxy = Proxy::start(upstream, Proxying::RefuseWebSockets);
    let mut tcp = TcpChat::join(&server);
    // Chromium sends nothing for 127.0.0.1 through a proxy unless told not to bypass it.
    let proxy_switch = format!("--proxy-server=http://{}", proxy.addr);
    let switches = [proxy_switch.as_str(), "--proxy-bypass-list=<-loopback>"];
    let mut browser = Chromium::launch_with("blocked", &switches);
    // Opened at `/`, as a user would: the page finds out by itself.
    let fallback = Via {
        path: "/",
        ..POLLING
    };
    let mut page = open_chat_via(&mut browser, &server, fallback);
    assert!(
        proxy.refused() >= 1,
        "the page tried a WebSocket first, and the proxy refused it"
    );

    set_nick(&mut page, "petra");
    say(&mut page, "through the proxy");
    tcp.expect("petra: through the proxy");
    tcp.send("hello, petra");
    wait_for_line(&mut page, &format!("{}: hello, petra", tcp.nick));
    outlast_the_heartbeat();
    tcp.send("/who");
    let who = tcp.expect_prefix("* 2 online: ");
    assert!(who.contains("petra (polling from 127.0.0.1:"), "{who}");
    say(&mut page, "still here");
    tcp.expect("petra: still here");
    assert_eq!(
        lines_where(&mut page, "l.startsWith('* disconnected')"),
        0.0
    );
    assert_eq!(page.eval(STATE).as_str(), Some("online"));
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_full_room_says_so_and_the_page_joins_when_there_is_room() {
    full_room_says_so_then_joins(WEBSOCKET);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn over_long_polling_a_full_room_says_so_and_the_page_joins_when_there_is_room() {
    full_room_says_so_then_joins(POLLING);
}

fn full_room_says_so_then_joins(via: Via) {
    let server = Server::start(ServerConfig {
        max_conns: 1,
        ..ServerConfig::ephemeral()
    })
    .expect("server starts");
    let tcp = TcpChat::join(&server);
    let mut browser = Chromium::launch("full");
    let addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    let mut page = browser.open(&format!("http://{addr}{}", via.path));
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
    assert_eq!(page.eval(VIA).as_str(), Some(via.name), "the header");
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn a_page_from_an_origin_the_server_does_not_know_is_told_why() {
    foreign_origin_is_told_why(WEBSOCKET);
}

#[test]
#[ignore = "needs Chromium: run make e2e"]
fn over_long_polling_a_page_from_an_origin_the_server_does_not_know_is_told_why() {
    foreign_origin_is_told_why(POLLING);
}

fn foreign_origin_is_told_why(via: Via) {
    let server = start_server();
    let upstream = server.ws_addr().expect("the HTTP listener");
    let proxy = Proxy::start(upstream, Proxying::RewriteHost);
    let mut browser = Chromium::launch("origin");
    let mut page = browser.open(&format!("http://{}{}", proxy.addr, via.path));
    wait_for_line(
        &mut page,
        "* cannot join: this server takes chat connections only from its own pages \
         (and from origins given with --allow-origin)",
    );
    wait_for_state(&mut page, "refused");
}

/// What a test [`Proxy`] does with the requests it passes on to the server.
#[derive(Clone, Copy)]
enum Proxying {
    /// A reverse proxy as nginx is by default (`proxy_set_header Host $proxy_host`): each
    /// request is passed on with its `Host` rewritten to the server's address. A page
    /// loaded through it has the proxy's origin, which the server does not know as its own.
    RewriteHost,
    /// A forward proxy (Chromium's `--proxy-server`) that passes plain HTTP requests but
    /// refuses `CONNECT`, the tunnel a browser opens a WebSocket through, as some office
    /// proxies do.
    RefuseWebSockets,
}

/// A proxy between Chromium and `upstream`, for one test.
struct Proxy {
    addr: SocketAddr,
    /// How many requests it refused.
    refused: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: SocketAddr, proxying: Proxying) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let refused = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let (stop, count) = (stopping.clone(), refused.clone());
        let accepter = thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                if let Ok(client) = client {
                    let count = count.clone();
                    thread::spawn(move || relay(client, upstream, proxying, &count));
                }
            }
        });
        Proxy {
            addr,
            refused,
            stopping,
            accepter: Some(accepter),
        }
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::Acquire)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(accepter) = self.accepter.take() {
            let _ = accepter.join();
        }
    }
}

/// One proxied connection: the request head as `proxying` has it, then bytes both ways
/// until either side closes (every read bounded by PATIENCE). It rewrites one head, so a
/// connection carries one request (`Connection: close` both ways), or one upgrade.
fn relay(client: TcpStream, upstream: SocketAddr, proxying: Proxying, refused: &AtomicUsize) {
    let _ = client.set_read_timeout(Some(PATIENCE));
    let Some(head) = read_head(&client) else {
        return;
    };
    let upgrade = head.to_ascii_lowercase().contains("\r\nupgrade:");
    let head = match proxying {
        Proxying::RewriteHost => set_header(&head, "Host", &upstream.to_string()),
        Proxying::RefuseWebSockets if head.starts_with("CONNECT ") => {
            refused.fetch_add(1, Ordering::AcqRel);
            let refusal =
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            let _ = (&client).write_all(refusal.as_bytes());
            return;
        }
        // `GET http://HOST/path HTTP/1.1` is `GET /path HTTP/1.1` to the server.
        Proxying::RefuseWebSockets => head.replacen(&format!("http://{upstream}/"), "/", 1),
    };
    let head = match upgrade {
        true => head,
        false => set_header(&head, "Connection", "close"),
    };
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let _ = server.set_read_timeout(Some(PATIENCE));
    if (&server).write_all(head.as_bytes()).is_err() {
        return;
    }
    let (back_from, back_to) = (server.try_clone(), client.try_clone());
    let back = thread::spawn(move || {
        if let (Ok(mut from), Ok(mut to)) = (back_from, back_to) {
            if !upgrade {
                let Some(head) = read_head(&from) else {
                    return;
                };
                let _ = to.write_all(set_header(&head, "Connection", "close").as_bytes());
            }
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
        }
    });
    let _ = io::copy(&mut &client, &mut &server);
    let _ = server.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// An HTTP head, up to and with its blank line (at most 16 KiB).
fn read_head(stream: &TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= 16 * 1024 {
            return None;
        }
        match (&*stream).read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// `head` with its header `name` set to `value` (replaced, or added at the end).
fn set_header(head: &str, name: &str, value: &str) -> String {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut lines: Vec<String> = head
        .split_inclusive("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with(&prefix))
        .map(str::to_string)
        .collect();
    let blank = lines.len().saturating_sub(1);
    lines.insert(blank, format!("{name}: {value}\r\n"));
    lines.concat()
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
