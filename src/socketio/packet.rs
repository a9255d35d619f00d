//! Socket.IO v5 packets, as pure functions over text and bytes (no I/O).
//!
//! A packet rides in one Engine.IO message: `<type>[<attachments>-][<namespace>,][<ack id>][JSON]`.
//! `2["chat message","hi"]` is an event on the main namespace `/`; `2/admin,13["x"]` one on
//! `/admin` that wants ack 13; `31[4]` is that kind of answer. A packet with binary arguments
//! (`5` / `6`) writes each buffer as a placeholder `{"_placeholder":true,"num":N}` and sends
//! the buffers as the next N binary Engine.IO messages; [`Decoder`] puts them back together.

use crate::json::{self, Json};
use std::fmt;

/// The packet types (the first digit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Connect = 0,
    Disconnect = 1,
    Event = 2,
    Ack = 3,
    ConnectError = 4,
    BinaryEvent = 5,
    BinaryAck = 6,
}

impl Kind {
    fn from_digit(c: u8) -> Option<Kind> {
        Some(match c {
            b'0' => Kind::Connect,
            b'1' => Kind::Disconnect,
            b'2' => Kind::Event,
            b'3' => Kind::Ack,
            b'4' => Kind::ConnectError,
            b'5' => Kind::BinaryEvent,
            b'6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    /// Do its buffers travel as attachments?
    pub fn is_binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// One Socket.IO packet with its binary attachments.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub kind: Kind,
    /// `/` unless the packet says otherwise.
    pub nsp: String,
    /// The ack id an event asks to be answered with, or the one an ack answers.
    pub id: Option<u64>,
    pub data: Option<Json>,
    /// The buffers the placeholders in `data` stand for (binary kinds only).
    pub attachments: Vec<Vec<u8>>,
}

/// A packet that breaks the format: the connection that sent it is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad Socket.IO packet: {}", self.0)
    }
}

impl std::error::Error for Error {}

/// `{"_placeholder":true,"num":N}`: where attachment N goes.
pub fn placeholder(num: usize) -> Json {
    Json::object([("_placeholder", true.into()), ("num", (num as u64).into())])
}

impl Packet {
    pub fn new(kind: Kind, nsp: &str, data: Option<Json>) -> Packet {
        Packet {
            kind,
            nsp: nsp.to_string(),
            id: None,
            data,
            attachments: Vec::new(),
        }
    }

    /// An event `name` with `args`; binary (`5`) when there are attachments.
    pub fn event(nsp: &str, name: &str, args: Vec<Json>, attachments: Vec<Vec<u8>>) -> Packet {
        let mut data = vec![Json::from(name)];
        data.extend(args);
        let kind = if attachments.is_empty() {
            Kind::Event
        } else {
            Kind::BinaryEvent
        };
        Packet {
            attachments,
            ..Packet::new(kind, nsp, Some(Json::Array(data)))
        }
    }

    /// The answer to ack `id` with `args`; binary (`6`) when there are attachments.
    pub fn ack(nsp: &str, id: u64, args: Vec<Json>, attachments: Vec<Vec<u8>>) -> Packet {
        let kind = if attachments.is_empty() {
            Kind::Ack
        } else {
            Kind::BinaryAck
        };
        Packet {
            id: Some(id),
            attachments,
            ..Packet::new(kind, nsp, Some(Json::Array(args)))
        }
    }

    /// The text message; the attachments follow it as binary messages.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        out.push(char::from(b'0' + self.kind as u8));
        if self.kind.is_binary() {
            out.push_str(&format!("{}-", self.attachments.len()));
        }
        if self.nsp != "/" {
            out.push_str(&self.nsp);
            out.push(',');
        }
        if let Some(id) = self.id {
            out.push_str(&id.to_string());
        }
        if let Some(data) = &self.data {
            out.push_str(&data.to_string());
        }
        out
    }

    /// An event's name and its arguments.
    pub fn event_name(&self) -> Option<&str> {
        match (&self.kind, &self.data) {
            (Kind::Event | Kind::BinaryEvent, Some(Json::Array(items))) => {
                items.first().and_then(Json::as_str)
            }
            _ => None,
        }
    }

    /// An event's arguments after its name, or an ack's arguments.
    pub fn args(&self) -> &[Json] {
        let items = self.data.as_ref().and_then(Json::as_array).unwrap_or(&[]);
        match self.kind {
            Kind::Event | Kind::BinaryEvent => items.get(1..).unwrap_or(&[]),
            _ => items,
        }
    }
}

/// Longest ack id: 2^53 is JavaScript's largest exact integer, 16 digits.
const MAX_ID_DIGITS: usize = 16;

/// Parses the text message of a packet. Binary kinds come back with their attachment count,
/// still to be filled in.
fn decode_text(text: &str, limits: json::Limits) -> Result<(Packet, usize), Error> {
    let bytes = text.as_bytes();
    let kind = bytes
        .first()
        .and_then(|&b| Kind::from_digit(b))
        .ok_or(Error("unknown packet type"))?;
    let mut pos = 1;
    let mut expected = 0;
    if kind.is_binary() {
        let digits = bytes[pos..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 || digits > 3 || bytes.get(pos + digits) != Some(&b'-') {
            return Err(Error("bad attachment count"));
        }
        expected = text[pos..pos + digits]
            .parse()
            .map_err(|_| Error("bad attachment count"))?;
        pos += digits + 1;
    }
    let mut nsp = "/".to_string();
    if bytes.get(pos) == Some(&b'/') {
        let end = text[pos..].find(',').map_or(text.len(), |i| pos + i);
        nsp = text[pos..end].to_string();
        pos = (end + 1).min(text.len());
    }
    let digits = bytes[pos..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let mut id = None;
    if digits > 0 {
        if digits > MAX_ID_DIGITS {
            return Err(Error("ack id too long"));
        }
        id = Some(
            text[pos..pos + digits]
                .parse()
                .map_err(|_| Error("bad ack id"))?,
        );
        pos += digits;
    }
    let data = match &text[pos..] {
        "" => None,
        json_text => Some(json::parse_with(json_text, limits).map_err(|_| Error("bad JSON"))?),
    };
    // What each type may carry (socket.io-parser's isPayloadValid).
    let valid = match (kind, &data) {
        (Kind::Connect, None) | (Kind::Connect, Some(Json::Object(_))) => true,
        (Kind::Disconnect, None) => true,
        (Kind::ConnectError, Some(Json::String(_) | Json::Object(_))) => true,
        (Kind::Event | Kind::BinaryEvent, Some(Json::Array(items))) => {
            matches!(items.first(), Some(Json::String(_)))
        }
        (Kind::Ack | Kind::BinaryAck, Some(Json::Array(_))) => id.is_some(),
        _ => false,
    };
    if !valid {
        return Err(Error("payload not allowed for this packet type"));
    }
    let packet = Packet {
        kind,
        nsp,
        id,
        data,
        attachments: Vec::new(),
    };
    Ok((packet, expected))
}

/// Does every placeholder in `value` point at one of `count` attachments?
fn placeholders_fit(value: &Json, count: usize) -> bool {
    match value {
        Json::Object(_) if value.get("_placeholder").as_bool() == Some(true) => {
            value.get("num").as_u64().is_some_and(|n| n < count as u64)
        }
        Json::Object(pairs) => pairs.iter().all(|(_, v)| placeholders_fit(v, count)),
        Json::Array(items) => items.iter().all(|v| placeholders_fit(v, count)),
        _ => true,
    }
}

/// Turns the Engine.IO messages of one connection back into packets: a text message is a
/// packet, unless it announced attachments, in which case the next binary messages are its
/// buffers. One decoder per connection; not shared.
#[derive(Debug)]
pub struct Decoder {
    pending: Option<(Packet, usize)>,
    max_attachments: usize,
    limits: json::Limits,
}

impl Decoder {
    /// At most `max_attachments` buffers per packet; JSON within `limits`.
    pub fn new(max_attachments: usize, limits: json::Limits) -> Decoder {
        Decoder {
            pending: None,
            max_attachments,
            limits,
        }
    }

    /// A text message. `Ok(None)`: a binary packet now waits for its buffers.
    pub fn text(&mut self, text: &str) -> Result<Option<Packet>, Error> {
        if self.pending.is_some() {
            return Err(Error("text message while attachments were expected"));
        }
        let (packet, expected) = decode_text(text, self.limits)?;
        if expected > self.max_attachments {
            return Err(Error("too many attachments"));
        }
        self.pending = Some((packet, expected));
        self.complete()
    }

    /// A binary message: the next attachment of the waiting packet.
    pub fn binary(&mut self, bytes: Vec<u8>) -> Result<Option<Packet>, Error> {
        let Some((packet, _)) = &mut self.pending else {
            return Err(Error("binary message without a packet announcing it"));
        };
        packet.attachments.push(bytes);
        self.complete()
    }

    fn complete(&mut self) -> Result<Option<Packet>, Error> {
        match self.pending.take() {
            Some((packet, expected)) if packet.attachments.len() == expected => {
                let fits = packet
                    .data
                    .as_ref()
                    .is_none_or(|d| placeholders_fit(d, expected));
                if fits {
                    Ok(Some(packet))
                } else {
                    Err(Error("placeholder without its attachment"))
                }
            }
            waiting => {
                self.pending = waiting;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> Decoder {
        Decoder::new(10, json::Limits::default())
    }

    fn decode(text: &str) -> Result<Option<Packet>, Error> {
        decoder().text(text)
    }

    /// Every example of the protocol's description, both ways.
    #[test]
    fn the_specs_examples_round_trip() {
        for wire in [
            "0",
            "0/admin,",
            r#"0{"token":"123"}"#,
            r#"0/admin,{"token":"123"}"#,
            r#"0{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
            "1",
            "1/admin,",
            r#"2["hello",1]"#,
            r#"2/admin,456["project:delete",123]"#,
            r#"212["ack me"]"#,
            "3/admin,456[]",
            r#"31["answer",{"a":null}]"#,
            r#"4{"message":"Not authorized"}"#,
            r#"4/admin,{"message":"Invalid namespace"}"#,
            r#"4"a string""#,
        ] {
            let packet = decode(wire).unwrap().unwrap();
            assert_eq!(packet.encode(), wire);
        }
        // "0/admin," is written with its comma; "0/admin" (none) means the same.
        assert_eq!(decode("0/admin").unwrap().unwrap().nsp, "/admin");
        assert_eq!(decode("1/admin").unwrap().unwrap().encode(), "1/admin,");
    }

    #[test]
    fn fields_are_read() {
        let p = decode(r#"2/admin,456["project:delete",123]"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.kind, p.nsp.as_str(), p.id),
            (Kind::Event, "/admin", Some(456))
        );
        assert_eq!(p.event_name(), Some("project:delete"));
        assert_eq!(p.args(), &[Json::from(123)]);
        let ack = decode("3/admin,456[1,2]").unwrap().unwrap();
        assert_eq!(ack.args(), &[Json::from(1), Json::from(2)]);
        assert_eq!(ack.event_name(), None);
    }

    #[test]
    fn binary_packets_wait_for_their_attachments() {
        let mut d = decoder();
        let header = r#"52-["hello",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(d.text(header), Ok(None));
        assert_eq!(d.binary(vec![1, 2]), Ok(None));
        let p = d.binary(vec![3]).unwrap().unwrap();
        assert_eq!(p.kind, Kind::BinaryEvent);
        assert_eq!(p.attachments, vec![vec![1, 2], vec![3]]);
        assert_eq!(p.encode(), header);
        let ack = d
            .text(r#"61-/admin,456[{"_placeholder":true,"num":0}]"#)
            .unwrap();
        assert_eq!(ack, None);
        let ack = d.binary(vec![9]).unwrap().unwrap();
        assert_eq!((ack.kind, ack.id), (Kind::BinaryAck, Some(456)));
        // Zero attachments is complete at once.
        assert!(decoder().text(r#"50-["x"]"#).unwrap().is_some());
        // Built from parts, the same wire text.
        let built = Packet::event("/", "hello", vec![placeholder(0)], vec![vec![1]]);
        assert_eq!(
            built.encode(),
            r#"51-["hello",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            Packet::ack("/", 7, vec![], vec![]).encode(),
            "37[]",
            "an ack without arguments"
        );
    }

    #[test]
    fn broken_packets_are_refused() {
        for bad in [
            "",
            "7",
            "x",
            "2",
            "2{}",
            "2[]",
            "2[1]",
            "2[\"a\"",
            "1{}",
            "3[]",
            "3/a,1{}",
            "0[]",
            "0\"str\"",
            "4",
            "4[]",
            "5[\"a\"]",
            "5-[\"a\"]",
            "5x-[\"a\"]",
            "51[\"a\"]",
            "5999-[\"a\"]",
            "211111111111111111111[\"a\"]",
            "2/admin,[\"a\"]x",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn attachments_are_bounded_and_checked() {
        assert_eq!(decode(r#"511-["a"]"#), Err(Error("too many attachments")));
        let mut d = decoder();
        // A placeholder pointing past the attachments that came.
        d.text(r#"51-["a",{"_placeholder":true,"num":1}]"#).unwrap();
        assert!(d.binary(vec![0]).is_err());
        // A binary message nobody announced, and text while buffers are awaited.
        assert!(decoder().binary(vec![1]).is_err());
        let mut d = decoder();
        d.text(r#"51-["a",{"_placeholder":true,"num":0}]"#).unwrap();
        assert!(d.text(r#"2["b"]"#).is_err());
    }

    #[test]
    fn json_limits_apply() {
        let limits = json::Limits {
            max_len: 1000,
            max_depth: 4,
        };
        let deep = format!("2[\"a\",{}{}]", "[".repeat(5), "]".repeat(5));
        assert!(Decoder::new(10, limits).text(&deep).is_err());
        assert!(Decoder::new(10, limits).text(r#"2["a",[[1]]]"#).is_ok());
    }
}
