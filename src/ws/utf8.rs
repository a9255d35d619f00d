//! RFC 6455 §8.1: text must be UTF-8, checked as the bytes arrive.
//!
//! A text message can arrive in many fragments, and a code point can be cut
//! between two of them. We fail as soon as the bytes seen so far cannot be the
//! start of valid UTF-8 (F4 90, E0 80 and ED A0 fail at their second byte),
//! not only when the message ends.
//!
//! The trick: `std::str::from_utf8` already tells the two kinds of failure
//! apart. `error_len() == Some(_)` means "invalid, whatever follows";
//! `None` means "valid so far, but a code point is cut off at the end".
//! We keep those (at most 3) cut-off bytes and finish them with the next piece,
//! so every byte is checked once and the work stays linear.

use std::fmt;

/// The bytes so far cannot be UTF-8 (close code 1007).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {}

/// Incremental UTF-8 check for one text message.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a code point cut off at the end of the last piece.
    pending: [u8; 4],
    pending_len: usize,
}

impl Utf8Validator {
    pub fn new() -> Self {
        Utf8Validator::default()
    }

    /// Checks the next piece of the message.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            // Finish the cut-off code point with the first bytes of this piece.
            let need = sequence_len(self.pending[0]).saturating_sub(self.pending_len);
            let take = need.min(bytes.len());
            let mut joined = [0u8; 4];
            let total = self.pending_len + take;
            joined[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
            joined[self.pending_len..total].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&joined[..total]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still cut off: this piece was too short to finish it.
                    self.pending = joined;
                    self.pending_len = total;
                    return Ok(());
                }
                Err(_) => return Err(InvalidUtf8),
            }
            bytes = &bytes[take..];
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &bytes[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len();
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// At the end of the message, a code point still cut off is an error too.
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// How many bytes the code point started by `lead` has (RFC 3629 §3).
/// Only called with lead bytes `from_utf8` accepted as a valid start.
fn sequence_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(pieces: &[&[u8]]) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for piece in pieces {
            v.feed(piece)?;
        }
        v.finish()
    }

    /// Index of the piece at which the validator first says no.
    fn fails_at(pieces: &[&[u8]]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        pieces.iter().position(|p| v.feed(p).is_err())
    }

    #[test]
    fn ascii_and_multibyte_text_is_valid() {
        assert_eq!(feed_all(&["Hello, κόσμε €𝄞".as_bytes()]), Ok(()));
    }

    #[test]
    fn a_code_point_split_across_pieces_is_fine() {
        let euro = "€".as_bytes(); // E2 82 AC
        assert_eq!(feed_all(&[&euro[..1], &euro[1..2], &euro[2..]]), Ok(()));
        let clef = "a𝄞b".as_bytes(); // F0 9D 84 9E in the middle
        for cut in 0..=clef.len() {
            assert_eq!(feed_all(&[&clef[..cut], &clef[cut..]]), Ok(()), "cut {cut}");
        }
        assert_eq!(
            feed_all(&[b"", &clef[..2], b"", &clef[2..4], &clef[4..]]),
            Ok(())
        );
    }

    #[test]
    fn f4_90_fails_at_the_second_byte() {
        // U+110000 and above do not exist.
        assert_eq!(fails_at(&[b"ok\xF4", b"\x90", b"\x80\x80"]), Some(1));
    }

    #[test]
    fn overlong_e0_80_fails_at_once() {
        assert_eq!(fails_at(&[b"\xE0\x80"]), Some(0));
        assert_eq!(fails_at(&[b"\xE0", b"\x80"]), Some(1));
    }

    #[test]
    fn surrogates_ed_a0_fail_at_once() {
        assert_eq!(fails_at(&[b"\xED\xA0"]), Some(0));
        assert_eq!(fails_at(&[b"x\xED", b"\xA0\x80"]), Some(1));
    }

    #[test]
    fn bytes_that_never_start_utf8_fail_at_once() {
        for byte in [0x80u8, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF] {
            assert_eq!(fails_at(&[&[byte]]), Some(0), "{byte:#x}");
        }
    }

    #[test]
    fn a_code_point_cut_off_at_the_end_of_the_message_fails() {
        assert_eq!(feed_all(&[b"\xE2\x82"]), Err(InvalidUtf8));
        assert_eq!(feed_all(&[b"\xF0", b"\x9D", b"\x84"]), Err(InvalidUtf8));
    }

    #[test]
    fn agrees_with_std_on_every_split_of_tricky_inputs() {
        let inputs: [&[u8]; 6] = [
            b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",
            b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80edited",
            b"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF",
            b"\xF4\x90\x80\x80",
            b"\xEF\xBF\xBF\xC2",
            b"abc\xC2\xA9\xE0\xA0\x80",
        ];
        for input in inputs {
            let want = std::str::from_utf8(input).is_ok();
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    let got = feed_all(&[&input[..a], &input[a..b], &input[b..]]).is_ok();
                    assert_eq!(got, want, "{input:x?} split at {a},{b}");
                }
            }
        }
    }
}
