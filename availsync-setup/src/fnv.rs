//! FNV-1a, 64 bits: a stable, dependency-free hash for short names that
//! must come out the same from one run (and release) to the next.

/// The FNV-1a hash of `text`.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
