//! RFC 6455 §5.3: client-to-server masking.
//!
//! Octet `i` of the payload is XORed with octet `i % 4` of the 32-bit mask key.
//! Doing that one byte at a time is the slowest part of a WebSocket; doing it
//! eight bytes at a time (one `u64` XOR) is as simple and several times faster.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// XORs `data` with `key` in place. `offset` is where `data[0]` sits inside the
/// payload, so a payload that arrives in pieces can be unmasked piece by piece.
/// Masking and unmasking are the same operation.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that `key[0]` lines up with `data[0]`.
    let shift = offset % 4;
    let key = [
        key[shift],
        key[(shift + 1) % 4],
        key[(shift + 2) % 4],
        key[(shift + 3) % 4],
    ];
    // Eight payload octets see the key twice, so one u64 masks them all.
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let (words, tail) = data.as_chunks_mut::<8>();
    for chunk in words {
        *chunk = (u64::from_ne_bytes(*chunk) ^ word).to_ne_bytes();
    }
    // Every chunk is 8 octets, so the tail starts at a multiple of 4: key[0] again.
    for (byte, k) in tail.iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// The obvious byte loop; kept as the reference the fast version is tested against.
/// Any `offset` is fine: only `offset % 4` matters, so it is reduced first and cannot overflow.
pub fn apply_mask_bytewise(data: &mut [u8], key: [u8; 4], offset: usize) {
    let shift = offset % 4;
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(shift + i) % 4];
    }
}

/// Mask keys for a client: RFC 6455 §5.3 wants a fresh, unpredictable key per
/// frame, so a script cannot choose the bytes that appear on the wire.
/// Each key is std's keyed SipHash of a counter; the hash key is random per
/// connection (std seeds it from the operating system).
#[derive(Debug, Clone)]
pub struct MaskKeys {
    secret: RandomState,
    counter: u64,
}

impl MaskKeys {
    pub fn new() -> Self {
        MaskKeys {
            secret: RandomState::new(),
            counter: 0,
        }
    }

    pub fn next_key(&mut self) -> [u8; 4] {
        self.counter = self.counter.wrapping_add(1);
        let mut hasher = self.secret.build_hasher();
        hasher.write_u64(self.counter);
        let h = hasher.finish();
        let [a, b, c, d, ..] = h.to_le_bytes();
        [a, b, c, d]
    }
}

impl Default for MaskKeys {
    fn default() -> Self {
        MaskKeys::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = *b"Hello";
        apply_mask(&mut data, KEY, 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut data, KEY, 0);
        assert_eq!(&data, b"Hello");
    }

    #[test]
    fn word_at_a_time_equals_byte_loop_at_every_alignment_length_and_offset() {
        let backing: Vec<u8> = (0..200u32).map(|i| (i * 31 + 7) as u8).collect();
        for start in 0..8 {
            for len in 0..80 {
                for offset in 0..8 {
                    let mut fast = backing.clone();
                    let mut slow = backing.clone();
                    apply_mask(&mut fast[start..start + len], KEY, offset);
                    apply_mask_bytewise(&mut slow[start..start + len], KEY, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn offsets_near_usize_max_do_not_overflow() {
        for offset in [usize::MAX - 2, usize::MAX - 1, usize::MAX] {
            let mut fast = [0u8; 8];
            let mut slow = [0u8; 8];
            apply_mask(&mut fast, KEY, offset);
            apply_mask_bytewise(&mut slow, KEY, offset);
            assert_eq!(fast, slow, "offset {offset}");
        }
        // usize::MAX - 2 is 1 modulo 4 (usize::MAX is 3 modulo 4): the key starts at key[1].
        let mut data = [0u8; 4];
        apply_mask_bytewise(&mut data, KEY, usize::MAX - 2);
        assert_eq!(data, [KEY[1], KEY[2], KEY[3], KEY[0]]);
    }

    #[test]
    fn a_payload_unmasked_in_pieces_equals_unmasked_at_once() {
        let original: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, KEY, 0);
        for cut in [1, 3, 4, 7, 8, 9, 500, 999] {
            let mut pieces = original.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, KEY, 0);
            apply_mask(b, KEY, cut);
            assert_eq!(pieces, whole, "cut at {cut}");
        }
    }

    #[test]
    fn mask_keys_change_from_frame_to_frame_and_between_connections() {
        let mut a = MaskKeys::new();
        let mut b = MaskKeys::new();
        let from_a: Vec<[u8; 4]> = (0..8).map(|_| a.next_key()).collect();
        let from_b: Vec<[u8; 4]> = (0..8).map(|_| b.next_key()).collect();
        assert_ne!(from_a, from_b);
        let distinct: std::collections::HashSet<_> = from_a.iter().collect();
        assert!(distinct.len() > 1);
    }
}
