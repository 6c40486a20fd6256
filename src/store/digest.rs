//! The results file's `digest` attribute: a 64-bit FNV-1a hash of a canonical
//! byte encoding of everything the file says (every root attribute but the
//! digest, and every row of `/engines`, `/chunks` and `/sessions`).
//!
//! It detects a file that changed after mcpi wrote it: a flipped bit, a
//! truncated row, a value edited by hand or by a tool that kept the digest.
//! It is not a signature: whoever edits a file on purpose can recompute it.
//!
//! The encoding, in order: the tag `mcpi-digest-1`; each attribute in byte
//! order of its name, as the name, a type tag and the value; then each
//! dataset's name, row count and rows, field by field in the schema's order.
//! Integers and floats (their IEEE-754 bits) are 8 bytes little-endian,
//! strings their length then their bytes, so no two contents encode alike.

/// How [`Digest`] is named in the file: `fnv1a64:<16 hex digits>`.
pub(crate) const PREFIX: &str = "fnv1a64:";

/// A running FNV-1a 64 over the canonical encoding.
pub(crate) struct Digest(u64);

impl Digest {
    pub(crate) fn new() -> Digest {
        let mut d = Digest(0xcbf2_9ce4_8422_2325);
        d.text(b"mcpi-digest-1");
        d
    }

    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        v.to_le_bytes().into_iter().for_each(|b| self.byte(b));
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// A string or byte string: its length, then its bytes.
    pub(crate) fn text(&mut self, bytes: &[u8]) {
        self.u64(bytes.len() as u64);
        bytes.iter().for_each(|&b| self.byte(b));
    }

    /// A type tag, so that values of different types never encode alike.
    pub(crate) fn tag(&mut self, tag: u8) {
        self.byte(tag);
    }

    /// The digest as the file stores it.
    pub(crate) fn finish(&self) -> String {
        format!("{PREFIX}{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_matches_its_published_values() {
        // FNV-1a 64 of "" and "a" (the reference test vectors).
        let raw = |bytes: &[u8]| {
            let mut d = Digest(0xcbf2_9ce4_8422_2325);
            bytes.iter().for_each(|&b| d.byte(b));
            d.0
        };
        assert_eq!(raw(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(raw(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(raw(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn lengths_keep_neighbouring_strings_apart() {
        let of = |parts: &[&str]| {
            let mut d = Digest::new();
            parts.iter().for_each(|p| d.text(p.as_bytes()));
            d.finish()
        };
        assert_ne!(of(&["ab", "c"]), of(&["a", "bc"]));
        assert!(of(&[]).starts_with(PREFIX) && of(&[]).len() == PREFIX.len() + 16);
    }
}
