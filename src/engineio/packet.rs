//! Engine.IO v4 packets and payloads, as pure functions over text and bytes (no I/O).
//!
//! A packet is one digit, its type, then its data: `4hello` is a message `hello`, `2` a ping,
//! `3probe` the pong of an upgrade probe. On WebSocket each packet is one frame, and a binary
//! message is a binary frame of its raw bytes, with no type digit. HTTP long polling sends
//! several packets in one body, a *payload*, separated by the record separator `0x1E`; a
//! binary message in a payload is written `b` + base64 of its bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::fmt;

/// The record separator between the packets of a polling payload.
pub const SEPARATOR: char = '\u{1e}';

/// What a message packet carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Text(String),
    Binary(Vec<u8>),
}

impl Data {
    /// Bytes on the wire, near enough for a byte budget (base64 makes binary a third longer).
    pub fn len(&self) -> usize {
        match self {
            Data::Text(text) => text.len(),
            Data::Binary(bytes) => bytes.len().div_ceil(3) * 4,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One Engine.IO packet (protocol v4). The digit each one starts with is its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// `0` + the handshake, JSON: `sid`, `upgrades`, `pingInterval`, `pingTimeout`, `maxPayload`.
    Open(String),
    /// `1`: the session is over.
    Close,
    /// `2`: the server's heartbeat; `2probe` is the client's upgrade probe on the new WebSocket.
    Ping(String),
    /// `3`: the answer to a ping, with its payload.
    Pong(String),
    /// `4` + text, or a binary message.
    Message(Data),
    /// `5`: the client switches the session to the WebSocket it probed.
    Upgrade,
    /// `6`: nothing; ends a pending poll during an upgrade.
    Noop,
}

/// A packet or payload that is not Engine.IO: the session that sent it is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad Engine.IO packet: {}", self.0)
    }
}

impl std::error::Error for Error {}

impl Packet {
    /// The type digit.
    pub fn type_char(&self) -> char {
        match self {
            Packet::Open(_) => '0',
            Packet::Close => '1',
            Packet::Ping(_) => '2',
            Packet::Pong(_) => '3',
            Packet::Message(_) => '4',
            Packet::Upgrade => '5',
            Packet::Noop => '6',
        }
    }

    /// Appends the text form: the type digit and the data; a binary message as `b` + base64
    /// (the form of polling payloads).
    pub fn encode_text(&self, out: &mut String) {
        let data = match self {
            Packet::Message(Data::Binary(bytes)) => {
                out.push('b');
                BASE64.encode_string(bytes, out);
                return;
            }
            Packet::Open(text) | Packet::Ping(text) | Packet::Pong(text) => text.as_str(),
            Packet::Message(Data::Text(text)) => text.as_str(),
            Packet::Close | Packet::Upgrade | Packet::Noop => "",
        };
        out.push(self.type_char());
        out.push_str(data);
    }

    /// The text form as a new string.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.encode_text(&mut out);
        out
    }

    /// Reads one packet in text form (a WebSocket text frame, or one packet of a payload).
    /// `b…` is a binary message only inside payloads; see [`decode_payload`].
    pub fn decode_text(text: &str) -> Result<Packet, Error> {
        let mut chars = text.chars();
        let Some(kind) = chars.next() else {
            return Err(Error("empty packet"));
        };
        let data = chars.as_str();
        let no_data = |packet| {
            if data.is_empty() {
                Ok(packet)
            } else {
                Err(Error("data after a close, upgrade or noop packet"))
            }
        };
        match kind {
            '0' => Ok(Packet::Open(data.to_string())),
            '1' => no_data(Packet::Close),
            '2' => Ok(Packet::Ping(data.to_string())),
            '3' => Ok(Packet::Pong(data.to_string())),
            '4' => Ok(Packet::Message(Data::Text(data.to_string()))),
            '5' => no_data(Packet::Upgrade),
            '6' => no_data(Packet::Noop),
            _ => Err(Error("unknown packet type")),
        }
    }
}

/// Joins packets into one polling payload: `4hello` `0x1E` `2` `0x1E` `bAQID`.
pub fn encode_payload(packets: &[Packet]) -> String {
    let mut out = String::new();
    for (i, packet) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        packet.encode_text(&mut out);
    }
    out
}

/// Splits a polling payload (a POST body) into its packets. Every packet must be whole and
/// valid, or the payload is refused: the sender is not speaking Engine.IO.
pub fn decode_payload(body: &[u8]) -> Result<Vec<Packet>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error("payload is not UTF-8"))?;
    if text.is_empty() {
        return Err(Error("empty payload"));
    }
    text.split(SEPARATOR)
        .map(|part| match part.strip_prefix('b') {
            Some(base64) => BASE64
                .decode(base64)
                .map(|bytes| Packet::Message(Data::Binary(bytes)))
                .map_err(|_| Error("bad base64 in a binary packet")),
            None => Packet::decode_text(part),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::Message(Data::Text(s.into()))
    }

    #[test]
    fn every_packet_type_round_trips_in_text_form() {
        let open = r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;
        let cases = [
            (Packet::Open(open.into()), format!("0{open}")),
            (Packet::Close, "1".into()),
            (Packet::Ping(String::new()), "2".into()),
            (Packet::Ping("probe".into()), "2probe".into()),
            (Packet::Pong(String::new()), "3".into()),
            (Packet::Pong("probe".into()), "3probe".into()),
            (text("hello é"), "4hello é".into()),
            (text(""), "4".into()),
            (Packet::Upgrade, "5".into()),
            (Packet::Noop, "6".into()),
        ];
        for (packet, wire) in cases {
            assert_eq!(packet.to_text(), wire);
            assert_eq!(Packet::decode_text(&wire), Ok(packet), "{wire}");
        }
    }

    #[test]
    fn a_binary_message_is_base64_in_text_form() {
        let packet = Packet::Message(Data::Binary(vec![1, 2, 3, 4]));
        assert_eq!(packet.to_text(), "bAQIDBA==");
        assert_eq!(Data::Binary(vec![1, 2, 3, 4]).len(), 8);
    }

    #[test]
    fn payloads_are_split_at_the_record_separator() {
        let packets = vec![
            text("hello"),
            Packet::Ping(String::new()),
            Packet::Message(Data::Binary(vec![1, 2, 3])),
            text("€"),
        ];
        let wire = encode_payload(&packets);
        assert_eq!(wire, "4hello\u{1e}2\u{1e}bAQID\u{1e}4€");
        assert_eq!(decode_payload(wire.as_bytes()), Ok(packets));
        // The spec's own example: a message, a binary message, a message.
        assert_eq!(
            decode_payload(b"4hello\x1ebAQIDBA==\x1e4world").map(|p| p.len()),
            Ok(3)
        );
        assert_eq!(encode_payload(&[Packet::Noop]), "6");
    }

    #[test]
    fn bad_packets_and_payloads_are_refused() {
        for bad in ["", "7", "x", "a4", "1x", "5probe", "6 "] {
            assert!(Packet::decode_text(bad).is_err(), "{bad:?}");
        }
        for bad in [
            &b""[..],
            b"\x1e",
            b"4a\x1e",
            b"\x1e4a",
            b"4a\x1e\x1e4b",
            b"b!!!",
            b"bAQI",
            b"9",
            b"4\xff",
        ] {
            assert!(
                decode_payload(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            decode_payload(b"4\xff").unwrap_err().to_string(),
            "bad Engine.IO packet: payload is not UTF-8"
        );
    }

    #[test]
    fn ten_thousand_packets_in_one_payload() {
        let packets: Vec<Packet> = (0..10_000).map(|i| text(&i.to_string())).collect();
        let wire = encode_payload(&packets);
        assert_eq!(decode_payload(wire.as_bytes()), Ok(packets));
    }
}
