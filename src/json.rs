//! Just enough JSON (RFC 8259): one value type, a compact encoder and a strict, bounded decoder.
//!
//! Socket.IO carries its event arguments as JSON text, and that text comes off the network, so
//! the decoder refuses everything outside the grammar and is bounded in every direction: the
//! text's length ([`Limits::max_len`]), the nesting depth (the decoder recurses;
//! [`Limits::max_depth`]), numbers (the grammar of §6, and none that overflow an `f64`), string
//! escapes (§7, with UTF-16 surrogate pairs). Objects keep their keys in order (a `Vec`, not a
//! map), so the encoder writes back what it read.

use std::fmt::{self, Write as _};

/// A JSON value (RFC 8259 §3).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    /// Every JSON number is read as an `f64`, as JavaScript does (RFC 8259 §6).
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// The `Null` that [`Json::get`] hands out for a missing key, so lookups can chain.
static NULL: Json = Json::Null;

impl Json {
    /// Builds an object from `(key, value)` pairs: `Json::object([("id", 1.into())])`.
    pub fn object<const N: usize>(pairs: [(&str, Json); N]) -> Json {
        Json::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// The member `key` of an object, or `Null` if it is missing or this is not an object.
    /// `reply.get("result").get("value")` reads like the JavaScript it mirrors.
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(pairs) => pairs
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A number that is a whole, non-negative integer an `f64` holds exactly (≤ 2^53).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(n) => {
                Some(*n as u64)
            }
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::String(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::String(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i32> for Json {
    fn from(n: i32) -> Json {
        Json::Number(n.into())
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        // Exact up to 2^53, as in JavaScript.
        Json::Number(n as f64)
    }
}

impl From<f64> for Json {
    fn from(n: f64) -> Json {
        Json::Number(n)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            // JSON has no NaN or Infinity (§6); JavaScript's JSON.stringify writes null too.
            Json::Number(n) if !n.is_finite() => f.write_str("null"),
            // Rust prints 1.0 as "1" and never uses an exponent, both valid JSON.
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => write_string(f, s),
            Json::Array(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Json::Object(pairs) => {
                f.write_char('{')?;
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_string(f, key)?;
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

/// A string with the escapes §7 requires: quote, backslash and the control characters.
/// Everything else, non-ASCII included, goes out as UTF-8.
fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

// ---------------------------------------------------------------------------------------------
// Reading

/// How much text the decoder takes on. Both bounds hold whatever the text looks like.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longer text is refused before it is looked at.
    pub max_len: usize,
    /// Arrays and objects nested deeper than this are refused: the decoder recurses, and a
    /// connection thread has a small stack.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_len: 1 << 20,
            max_depth: 64,
        }
    }
}

/// Why a text is not JSON, and where (a byte offset into the text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub what: &'static str,
    pub at: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON: {} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for Error {}

/// Parses one JSON text (§2) within the default [`Limits`].
pub fn parse(text: &str) -> Result<Json, Error> {
    parse_with(text, Limits::default())
}

/// Parses one JSON text (§2): a value with optional whitespace around it, nothing else.
pub fn parse_with(text: &str, limits: Limits) -> Result<Json, Error> {
    if text.len() > limits.max_len {
        return Err(Error {
            what: "text longer than the limit",
            at: limits.max_len,
        });
    }
    let mut parser = Parser {
        text,
        pos: 0,
        max_depth: limits.max_depth,
    };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != text.len() {
        return Err(parser.error("text after the value"));
    }
    Ok(value)
}

/// A cursor over the text. `pos` is a byte offset that always sits on a char boundary: it only
/// moves past ASCII bytes one at a time, or past whole chars.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &'static str) -> Error {
        Error { what, at: self.pos }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `word` (a literal such as `true`) or fails.
    fn expect_word(&mut self, word: &str, what: &'static str) -> Result<(), Error> {
        if self.rest().starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, Error> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'n') => self
                .expect_word("null", "expected null")
                .map(|_| Json::Null),
            Some(b't') => self
                .expect_word("true", "expected true")
                .map(|_| Json::Bool(true)),
            Some(b'f') => self
                .expect_word("false", "expected false")
                .map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[' | b'{') if depth >= self.max_depth => Err(self.error("nesting too deep")),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    /// `[ value , value ]` (§5).
    fn array(&mut self, depth: usize) -> Result<Json, Error> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected , or ] in an array")),
            }
        }
    }

    /// `{ "key" : value , ... }` (§4).
    fn object(&mut self, depth: usize) -> Result<Json, Error> {
        self.pos += 1; // '{'
        let mut pairs = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(pairs));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expected : after a key"));
            }
            self.pos += 1;
            pairs.push((key, self.value(depth + 1)?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Json::Object(pairs));
                }
                _ => return Err(self.error("expected , or } in an object")),
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?` (§6). The grammar is checked
    /// here, because Rust's `f64::from_str` also takes things JSON does not ("inf", "+1", "1.").
    /// §9 lets a parser limit the range: one that overflows an `f64` (`1e400`) is refused
    /// rather than turned into an infinity that JSON cannot write back.
    fn number(&mut self) -> Result<Json, Error> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.require_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.require_digits()?;
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Json::Number(n)),
            Ok(_) => Err(Error {
                what: "number out of range",
                at: start,
            }),
            Err(_) => Err(Error {
                what: "bad number",
                at: start,
            }),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), Error> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("expected a digit"));
        }
        self.digits();
        Ok(())
    }

    /// A quoted string (§7). Runs of plain characters are copied as whole slices; escapes are
    /// decoded one by one.
    fn string(&mut self) -> Result<String, Error> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // Stopped on an ASCII byte or the end, so `run..pos` lies on char boundaries.
            out.push_str(self.text.get(run..self.pos).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The character after a backslash.
    fn escape(&mut self) -> Result<char, Error> {
        let Some(b) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(self.error("unknown escape")),
        })
    }

    /// `\uXXXX`, where a character outside the Basic Multilingual Plane is written as a UTF-16
    /// surrogate pair: `\ud83d\ude00` is one emoji. A lone surrogate (a JavaScript string can
    /// hold one, and `JSON.stringify` writes it as an escape) has no UTF-8 form: it becomes
    /// U+FFFD, as `TextDecoder` would make it.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.rest().starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            self.pos = save; // not a pair: the second escape is read on its own
        }
        Ok(char::from_u32(first).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("expected four hex digits"))?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.error("bad hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_value() {
        let v =
            parse(r#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "d"}, "e": []} "#).unwrap();
        assert_eq!(
            v.get("a"),
            &Json::Array(vec![
                Json::Number(1.0),
                Json::Number(-2500.0),
                Json::Bool(true),
                Json::Bool(false),
                Json::Null,
            ])
        );
        assert_eq!(v.get("b").get("c").as_str(), Some("d"));
        assert_eq!(v.get("e").as_array(), Some(&[][..]));
        assert!(v.get("missing").get("deeper").is_null());
        assert!(v.is_object() && !v.get("a").is_object());
    }

    #[test]
    fn writes_compact_text_in_key_order() {
        let v = Json::object([
            ("id", 7.into()),
            ("method", "Runtime.evaluate".into()),
            ("params", Json::object([("returnByValue", true.into())])),
            ("list", Json::Array(vec![Json::Null, 0.5.into()])),
        ]);
        assert_eq!(
            v.to_string(),
            r#"{"id":7,"method":"Runtime.evaluate","params":{"returnByValue":true},"list":[null,0.5]}"#
        );
    }

    #[test]
    fn what_is_read_is_written_back_the_same() {
        for text in [
            r#"["message",1,"2",{"3":[true,null]},-0.5,1e21]"#,
            r#"{"_placeholder":true,"num":0}"#,
            r#""é😀\u0000""#,
        ] {
            let v = parse(text).unwrap();
            assert_eq!(parse(&v.to_string()).unwrap(), v, "{text}");
        }
        assert_eq!(parse("1e21").unwrap().to_string(), "1000000000000000000000");
    }

    #[test]
    fn string_escapes_both_ways() {
        let text = "quote \" backslash \\ newline \n tab \t bell \u{7} é 😀 </script>";
        let written = Json::from(text).to_string();
        assert_eq!(
            written,
            "\"quote \\\" backslash \\\\ newline \\n tab \\t bell \\u0007 é 😀 </script>\""
        );
        assert_eq!(parse(&written).unwrap().as_str(), Some(text));
    }

    #[test]
    fn unicode_escapes_and_surrogate_pairs() {
        let v = parse(r#""\u00e9\u20AC\ud83d\ude00\uD83D\uDE00\/\b\f""#).unwrap();
        assert_eq!(v.as_str(), Some("é€😀😀/\u{8}\u{c}"));
        // A lone high surrogate, one followed by a non-surrogate escape, a lone low one, and a
        // pair in the wrong order.
        let v = parse(r#""\ud800x\ud800\u0041\udc00\ude00\ud83d""#).unwrap();
        assert_eq!(
            v.as_str(),
            Some("\u{fffd}x\u{fffd}A\u{fffd}\u{fffd}\u{fffd}")
        );
        for bad in [r#""\ud83d\u""#, r#""\ud83d\uzzzz""#, r#""\u00""#, r#""\u""#] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn numbers_follow_the_grammar() {
        for (text, n) in [("0", 0.0), ("-0.25", -0.25), ("1E2", 100.0), ("2e-1", 0.2)] {
            assert_eq!(parse(text).unwrap().as_f64(), Some(n), "{text}");
        }
        for bad in [
            "01", "1.", ".5", "+1", "-", "1e", "1e+", "inf", "NaN", "0x10", "--1", "1.e3",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        let huge = parse("1e400").unwrap_err();
        assert_eq!(huge.what, "number out of range");
        assert!(parse("-1e400").is_err());
        // Underflow is fine: it is a tiny number, written back as 0.
        assert_eq!(parse("1e-400").unwrap().as_f64(), Some(0.0));
        assert_eq!(Json::Number(f64::NAN).to_string(), "null");
        assert_eq!(parse("42").unwrap().as_u64(), Some(42));
        assert_eq!(parse("4.5").unwrap().as_u64(), None);
        assert_eq!(parse("-1").unwrap().as_u64(), None);
    }

    #[test]
    fn refuses_broken_text() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "[,1]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{a:1}",
            "\"open",
            "\"tab\there\"",
            "\"\\x\"",
            "\"\\u12\"",
            "tru",
            "nul",
            "1 2",
            "[1]]",
            "'single'",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn depth_and_length_are_bounded() {
        let max = Limits::default().max_depth;
        let fine = "[".repeat(max) + &"]".repeat(max);
        assert!(parse(&fine).is_ok());
        let deep = "[".repeat(max + 1) + &"]".repeat(max + 1);
        assert_eq!(parse(&deep).unwrap_err().what, "nesting too deep");
        // An unclosed million-deep text is refused at the limit, not after a million frames.
        let err = parse(&"[{\"a\":".repeat(100_000)).unwrap_err();
        assert_eq!(err.what, "nesting too deep");
        let limits = Limits {
            max_len: 10,
            max_depth: 2,
        };
        assert!(parse_with("[[1]]", limits).is_ok());
        assert!(parse_with("[[[1]]]", limits).is_err());
        let long = parse_with("\"0123456789\"", limits).unwrap_err();
        assert_eq!(long.what, "text longer than the limit");
    }
}
