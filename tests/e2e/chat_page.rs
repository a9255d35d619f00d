//! The chat page (`src/chat.html`) in Chromium, used as a person would: read the lines it
//! lists, type a nick or a message, press Enter.

use super::chromium::{Chromium, Page};
use super::json::Json;

/// JavaScript: the text of every line the page lists, oldest first.
pub const LINES: &str =
    "[...document.querySelectorAll('#messages li.line')].map(li => li.textContent)";
/// JavaScript: the connection state the page shows.
pub const STATE: &str = "document.getElementById('state').textContent";
/// JavaScript: how the page reaches the room, as its header says ("WebSocket", "long polling").
pub const VIA: &str = "document.getElementById('via').textContent";
/// JavaScript: the member count the page shows.
pub const COUNT: &str = "document.getElementById('count').textContent";

/// Opens the chat page at `url` and waits until it is online and has been welcomed.
pub fn open_chat_at(browser: &mut Chromium, url: &str) -> Page {
    let mut page = browser.open(url);
    wait_for_state(&mut page, "online");
    wait_for_lines(
        &mut page,
        "l.startsWith('* welcome, you are ')",
        1,
        "the welcome",
    );
    page
}

pub fn wait_for_count(page: &mut Page, count: &str) {
    page.wait_for(
        &format!("{COUNT} === {}", Json::from(count)),
        &format!("the member count {count}"),
    );
}

pub fn wait_for_state(page: &mut Page, state: &str) {
    page.wait_for(
        &format!("{STATE} === {}", Json::from(state)),
        &format!("the state {state:?}"),
    );
}

/// Waits until the page lists the line `text`.
pub fn wait_for_line(page: &mut Page, text: &str) {
    page.wait_for(
        &format!("{LINES}.includes({})", Json::from(text)),
        &format!("the line {text:?}"),
    );
}

/// Waits until at least `count` listed lines `l` pass the JavaScript test `test`.
pub fn wait_for_lines(page: &mut Page, test: &str, count: usize, what: &str) {
    page.wait_for(
        &format!("{LINES}.filter(l => {test}).length >= {count}"),
        what,
    );
}

/// Types a nick into the nick field and presses Enter; waits for the room to confirm it.
pub fn set_nick(page: &mut Page, nick: &str) {
    page.focus("nick");
    // Select what is there, so typing replaces the guest name, as a person would do.
    page.eval("document.getElementById('nick').select()");
    page.type_text(nick);
    page.press_enter();
    let confirmed = format!("l.endsWith({})", Json::from(format!(" is now {nick}")));
    wait_for_lines(page, &confirmed, 1, &format!("the room to call us {nick}"));
}

/// Types a message into the input and presses Enter.
pub fn say(page: &mut Page, text: &str) {
    page.enter("input", text);
}
