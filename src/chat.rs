//! The chat protocol, the same on every transport: one line of UTF-8 text is one message.
//!
//! Pure functions over strings, no sockets: what a line means ([`parse_line`]), which nicks are
//! allowed ([`check_nick`]) and how lines reach the screen ([`clean`]). The hub applies them.
//!
//! ```text
//! alice: hello            a message, broadcast as NICK: TEXT
//! * bob joined (2 online) a notice: starts with "* "
//! /nick NAME  /who  /help  /quit
//! ```

/// What a member's line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Say this to the room.
    Text(&'a str),
    Nick(&'a str),
    Who,
    Help,
    Quit,
    /// Nothing to do (an empty line).
    Empty,
    /// A `/word` that is not a command.
    Unknown(&'a str),
}

/// The `/help` answer, one notice line per entry.
pub const HELP: &[&str] = &[
    "* commands: /nick NAME (rename), /who (who is here), /help (this), /quit (leave)",
    "* anything else you type is sent to everyone in the room",
];

/// Longest nick, in characters.
pub const MAX_NICK: usize = 24;

/// Reads one line (already without its `\n`/`\r\n`). Command words are case-insensitive
/// (`/NICK` is `/nick`), as in IRC.
pub fn parse_line(line: &str) -> Input<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Input::Empty;
    }
    let Some(command) = line.strip_prefix('/') else {
        return Input::Text(line);
    };
    let (word, rest) = match command.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (command, ""),
    };
    match word.to_ascii_lowercase().as_str() {
        "nick" => Input::Nick(rest),
        "who" => Input::Who,
        "help" => Input::Help,
        "quit" => Input::Quit,
        _ => Input::Unknown(word),
    }
}

/// A nick is 1 to 24 letters, digits, `-`, `_` or `.`: nothing that could pass for a notice
/// (`* `) or break a `NICK: TEXT` line.
pub fn check_nick(nick: &str) -> Result<(), String> {
    if nick.is_empty() {
        return Err("usage: /nick NAME".into());
    }
    if nick.chars().count() > MAX_NICK {
        return Err(format!("a nick has at most {MAX_NICK} characters"));
    }
    if !nick
        .chars()
        .all(|c| c.is_alphanumeric() || "-_.".contains(c))
    {
        return Err("a nick uses only letters, digits, '-', '_' and '.'".into());
    }
    Ok(())
}

/// Replaces control characters (NUL, ESC, ...) with U+FFFD so that no member can move another
/// member's terminal cursor or colour their screen. Tabs stay.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(is_unwanted) {
        text.chars()
            .map(|c| if is_unwanted(c) { '\u{FFFD}' } else { c })
            .collect()
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn is_unwanted(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// The first line a member gets: its nick, the room's size, the longest line the server takes
/// and how many of the room's recent messages follow. A person reads it as a sentence; the
/// browser page takes its limit and the history's length from it (the page's `track`).
///
/// `* welcome, you are guest-3 (3 online; /help for commands; lines up to 8192 bytes; the last 5 messages follow)`
pub fn welcome(nick: &str, online: usize, max_line: usize, history: usize) -> String {
    let history = match history {
        0 => String::new(),
        1 => "; the last message follows".to_string(),
        n => format!("; the last {n} messages follow"),
    };
    notice(&format!(
        "welcome, you are {nick} ({online} online; /help for commands; \
         lines up to {max_line} bytes{history})"
    ))
}

/// `NICK: TEXT`, the form every message is broadcast in.
pub fn message(nick: &str, text: &str) -> String {
    format!("{nick}: {text}")
}

/// `* TEXT`, the form of every notice.
pub fn notice(text: &str) -> String {
    format!("* {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_text_unless_they_are_commands() {
        assert_eq!(parse_line("hello\r\n"), Input::Text("hello"));
        assert_eq!(parse_line("/nick  bob "), Input::Nick("bob"));
        assert_eq!(parse_line("/nick"), Input::Nick(""));
        assert_eq!(parse_line("/who"), Input::Who);
        assert_eq!(parse_line("/help"), Input::Help);
        assert_eq!(parse_line("/quit\r"), Input::Quit);
        assert_eq!(parse_line("/dance now"), Input::Unknown("dance"));
        assert_eq!(parse_line("   "), Input::Empty);
        assert_eq!(parse_line(" /who"), Input::Text(" /who"));
    }

    #[test]
    fn command_words_are_case_insensitive() {
        assert_eq!(parse_line("/NICK bob"), Input::Nick("bob"));
        assert_eq!(parse_line("/Who"), Input::Who);
        assert_eq!(parse_line("/HELP"), Input::Help);
        assert_eq!(parse_line("/QUIT"), Input::Quit);
        // The name keeps its case; an unknown word is reported as typed.
        assert_eq!(parse_line("/Nick Bob"), Input::Nick("Bob"));
        assert_eq!(parse_line("/DANCE"), Input::Unknown("DANCE"));
    }

    #[test]
    fn every_slash_word_that_is_no_command_is_unknown() {
        // `/panic` is only the transports' test hook (`ServerConfig::fault_injection`); here
        // it is a word like any other, so a member who types it is answered.
        assert_eq!(parse_line("/panic"), Input::Unknown("panic"));
        assert_eq!(parse_line("/"), Input::Unknown(""));
        assert_eq!(parse_line("/ hi"), Input::Unknown(""));
    }

    #[test]
    fn nicks_cannot_pose_as_notices_or_be_huge() {
        assert!(check_nick("alice").is_ok());
        assert!(check_nick("Jörg-2.0_x").is_ok());
        assert!(check_nick("").is_err());
        assert!(check_nick("*").is_err());
        assert!(check_nick("a b").is_err());
        assert!(check_nick("eve:").is_err());
        assert!(check_nick(&"x".repeat(MAX_NICK)).is_ok());
        assert!(check_nick(&"x".repeat(MAX_NICK + 1)).is_err());
    }

    #[test]
    fn the_welcome_names_the_limit_and_the_history_that_follows() {
        assert_eq!(
            welcome("guest-3", 3, 8192, 5),
            "* welcome, you are guest-3 (3 online; /help for commands; lines up to 8192 bytes; \
             the last 5 messages follow)"
        );
        assert!(
            welcome("a", 1, 100, 1).ends_with("; lines up to 100 bytes; the last message follows)")
        );
        assert!(welcome("a", 1, 100, 0).ends_with("; lines up to 100 bytes)"));
    }

    #[test]
    fn control_characters_are_replaced() {
        assert_eq!(clean("plain\ttext"), "plain\ttext");
        assert_eq!(clean("a\0b\x1b[31mred"), "a\u{FFFD}b\u{FFFD}[31mred");
        assert_eq!(clean("\u{85}"), "\u{FFFD}");
    }
}
