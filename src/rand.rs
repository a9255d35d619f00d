//! Random bytes without a crate: the kernel's `/dev/urandom`, plus a tiny seeded PRNG.
//!
//! The WebSocket handshake key (RFC 6455 §4.1) must be unpredictable, so it comes from
//! `/dev/urandom`. If that file cannot be opened (an odd sandbox), we fall back to
//! [`SplitMix64`] seeded from the clock, a counter and an address: weaker, but the connection
//! still works. (Mask keys, one per client frame, come from `ws::mask::MaskKeys`.)

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64 (Steele, Lea, Flood 2014): one add and a few multiply/xor-shifts per output.
/// Fast and well spread, NOT cryptographic: use it for tests and fuzzing with a fixed seed.
#[derive(Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n == 0`); the tiny modulo bias does not matter for tests.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A seed that differs between calls and processes, for when `/dev/urandom` is missing.
fn fallback_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let local = 0u8;
    let address = &local as *const u8 as u64; // differs per thread stack (and with ASLR)
    let mut mix = SplitMix64::new(nanos ^ address.rotate_left(32) ^ count.rotate_left(17));
    mix.next_u64()
}

/// Fills `buf` from `/dev/urandom`, or from the seeded fallback if the kernel file is missing.
pub fn fill(buf: &mut [u8]) {
    let from_kernel = File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf));
    if from_kernel.is_err() {
        SplitMix64::new(fallback_seed()).fill(buf);
    }
}

/// Eight random bytes as a number; also a good seed for [`SplitMix64`].
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// `bytes` random bytes as base64url without padding: an id that needs no escaping in a URL
/// (Engine.IO session ids, Socket.IO socket ids; 15 bytes make 20 characters).
pub fn url_token(bytes: usize) -> String {
    use base64::Engine;
    let mut raw = vec![0u8; bytes];
    fill(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The 16 random bytes of a `Sec-WebSocket-Key` (RFC 6455 §4.1), before base64.
pub fn handshake_key() -> [u8; 16] {
    let mut key = [0u8; 16];
    fill(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_reproducible_from_its_seed() {
        let (mut a, mut b) = (SplitMix64::new(42), SplitMix64::new(42));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        // Reference value of SplitMix64 with seed 0 (first output).
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(7);
        assert!((0..1000).all(|_| rng.below(10) < 10));
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn fill_covers_odd_lengths() {
        let mut rng = SplitMix64::new(1);
        let mut buf = [0u8; 13];
        rng.fill(&mut buf);
        assert!(buf[8..].iter().any(|&b| b != 0));
    }

    #[test]
    fn url_tokens_are_url_safe_and_differ() {
        let (a, b) = (url_token(15), url_token(15));
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }

    #[test]
    fn keys_differ_between_calls() {
        assert_ne!(handshake_key(), handshake_key());
        assert_ne!(fallback_seed(), fallback_seed());
    }
}
