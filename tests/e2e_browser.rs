//! End to end: the chat page in a real browser (Debian's headless Chromium), used as a person
//! would use it, in one room with TCP and UDP members.
//!
//! `make e2e` runs these; `make test` skips them (they need Chromium). Chromium is driven over
//! the DevTools Protocol, which is JSON over a WebSocket, spoken with plainsock's own client.

mod common;
mod e2e;

use common::{TcpChat, UdpChat};
use e2e::chat_page::{
    open_chat_at, say, set_nick, wait_for_count, wait_for_line, wait_for_lines, wait_for_state,
};
use e2e::chromium::{Chromium, PATIENCE, Page, artifacts_dir};
use e2e::json::Json;
use plainsock::{Server, ServerConfig};
use std::net::SocketAddr;
use std::time::Instant;

fn start_server() -> Server {
    Server::start(ServerConfig::ephemeral()).expect("server starts")
}

/// Opens the server's chat page and waits until it is online and has been welcomed.
fn open_chat(browser: &mut Chromium, server: &Server) -> Page {
    let addr = server.ws_addr().expect("the HTTP/WebSocket listener");
    open_chat_at(browser, &format!("http://{addr}/"))
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
    wait_for_line(&mut page, "* disconnected");
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
