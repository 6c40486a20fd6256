//! Per-chunk random streams: the reproducibility contract `pcg32x16-v1`.
//!
//! Every chunk `c` owns [`LANES`] independent `rand_pcg::Pcg32` generators
//! (PCG-XSH-RR 64/32, a.k.a. `Lcg64Xsh32`). Lane `l` of chunk `c` is seeded
//! from the user's `seed` through SplitMix64:
//!
//! ```text
//! k      = 16·c + l                       (the lane's global index)
//! state  = mix64(seed + (2k + 1)·γ)       (SplitMix64 output number 2k+1)
//! stream = mix64(seed + (2k + 2)·γ)       (SplitMix64 output number 2k+2)
//! lane   = Pcg32::new(state, stream)
//! ```
//!
//! with γ = `0x9E3779B97F4A7C15` and `mix64` the SplitMix64 finaliser
//! (Stafford variant 13), all arithmetic wrapping mod 2⁶⁴. In words: the lanes
//! of all chunks consume consecutive pairs of outputs of one SplitMix64
//! sequence started at `seed`, so any lane is derived in O(1) without touching
//! any other.
//!
//! Point `i` of a chunk draws from lane `i mod 16`: first `x`, then `y`, both
//! `u32`. It is inside the quarter circle iff `x² + y² < 2⁶⁴`, evaluated exactly
//! in integers. Nothing depends on which rank computes a chunk or when, so a
//! `(seed, samples, chunks)` triple always gives the same inside count.

use rand_pcg::Pcg32;

/// Name of this stream layout, stored with every result.
pub const RNG_NAME: &str = "pcg32x16-v1";

/// Number of PCG32 lanes per chunk.
pub const LANES: usize = 16;

/// SplitMix64's increment γ (the golden-ratio constant).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function (a bijective 64-bit mixer).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Output number `n` (1-based) of SplitMix64 started at `seed`.
#[inline]
pub fn splitmix64_nth(seed: u64, n: u64) -> u64 {
    mix64(seed.wrapping_add(n.wrapping_mul(GOLDEN_GAMMA)))
}

/// The `(state, stream)` pair that seeds lane `lane` of chunk `chunk`.
#[inline]
pub fn lane_seed(seed: u64, chunk: u64, lane: usize) -> (u64, u64) {
    debug_assert!(lane < LANES);
    let k = chunk.wrapping_mul(LANES as u64).wrapping_add(lane as u64);
    let first = k.wrapping_mul(2).wrapping_add(1);
    (
        splitmix64_nth(seed, first),
        splitmix64_nth(seed, first.wrapping_add(1)),
    )
}

/// The 16 generators of one chunk, ready to draw.
pub fn chunk_lanes(seed: u64, chunk: u64) -> [Pcg32; LANES] {
    std::array::from_fn(|lane| {
        let (state, stream) = lane_seed(seed, chunk, lane);
        Pcg32::new(state, stream)
    })
}

/// The exact integer inside test: `x² + y² < 2⁶⁴`.
#[inline(always)]
pub fn inside(x: u32, y: u32) -> bool {
    let x2 = u64::from(x) * u64::from(x);
    let y2 = u64::from(y) * u64::from(y);
    // The sum is below 2⁶⁴ exactly when the u64 addition does not wrap.
    !x2.overflowing_add(y2).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn splitmix64_matches_the_published_sequence() {
        // Reference values of Vigna's splitmix64.c started at 0.
        assert_eq!(splitmix64_nth(0, 1), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64_nth(0, 2), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(splitmix64_nth(0, 3), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn lanes_take_consecutive_splitmix_pairs() {
        assert_eq!(
            lane_seed(0, 0, 0),
            (0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4)
        );
        assert_eq!(lane_seed(0, 0, 1).0, 0x06C4_5D18_8009_454F);
        // Chunk 1 starts right after chunk 0's 16 lanes (32 outputs).
        assert_eq!(
            lane_seed(7, 1, 0),
            (splitmix64_nth(7, 33), splitmix64_nth(7, 34))
        );
    }

    #[test]
    fn pcg32_is_the_reference_pcg_xsh_rr() {
        // pcg32-demo's published output for initstate 42, initseq 54.
        let mut rng = Pcg32::new(42, 54);
        let got: Vec<u32> = (0..6).map(|_| rng.next_u32()).collect();
        assert_eq!(
            got,
            [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]
        );
    }

    #[test]
    fn inside_test_is_exact_at_the_boundary() {
        assert!(inside(0, 0));
        assert!(inside(u32::MAX, 0));
        assert!(!inside(u32::MAX, u32::MAX));
        // 3037000499² + 3037000499² = 18446744030759878002 < 2⁶⁴
        assert!(inside(3_037_000_499, 3_037_000_499));
        // 3037000500² · 2 = 18446744073709552000 ≥ 2⁶⁴
        assert!(!inside(3_037_000_500, 3_037_000_500));
    }
}
