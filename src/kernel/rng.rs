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
//!
//! # Why PCG32 lanes, and the limits of the layout
//!
//! PCG32 is small (16 bytes of state), passes TestU01's BigCrush (O'Neill,
//! 2014), and its step is one 64-bit multiply-add, so 16 lanes vectorise (see
//! [`crate::kernel`]). Seeding every
//! lane from a counter through SplitMix64 makes any chunk computable anywhere,
//! in any order, in O(1).
//!
//! **Period.** A lane is the LCG `s ← A·s + c (mod 2⁶⁴)` with
//! `A = 6364136223846793005` and the odd increment `c = 2·stream + 1 (mod 2⁶⁴)`
//! (`Pcg32::new` drops the top bit of `stream`), followed by the XSH-RR output
//! permutation. By the Hull–Dobell theorem the period is 2⁶⁴ for every odd `c`.
//! A point takes two outputs of one lane and a chunk spreads its points over 16
//! lanes, so a chunk of `n` points moves each lane `2·⌈n/16⌉` steps. Even one
//! chunk of the largest possible `--samples` (2⁶⁴ − 1) moves its lanes 2⁶¹
//! steps, an eighth of the period: no lane ever comes back to where it started.
//!
//! **Lanes do not overlap.** Two lanes with increments `c₁ ≠ c₂` that were ever
//! in the same state `s` would step to `A·s + c₁ ≠ A·s + c₂`: they can meet in
//! an isolated state (which the output function hides) but never share two
//! consecutive states, so no lane replays a stretch of another, whatever the
//! lengths. Increments come from `mix64` (a bijection) of distinct inputs, so
//! two lanes share one only if their streams agree in the low 63 bits:
//! probability 2⁻⁶³ for a pair, ≈ 1.3·10⁻¹⁷ for the 120 pairs of one chunk,
//! ≈ 1.4·10⁻⁵ for all pairs of the 1.6·10⁷ lanes of a run with the maximum of
//! 10⁶ chunks. Even then the two lanes walk the same cycle from start points
//! that are 64-bit hashes, and overlap only if those are closer than the lanes'
//! length `len`: probability ≈ 2·len/2⁶⁴. With `K` chunks of `N` points in all,
//! an overlap anywhere has probability below `32·K·N / 2¹²⁷`, under 10⁻¹¹ for
//! anything mcpi accepts (`K ≤ 10⁶`, `N < 2⁶⁴`). `tests/statistics.rs` checks
//! that the increments of all 524 288 lanes of 32 768 chunks are distinct and
//! that the lanes of a chunk never meet a state of another in 2¹⁵ steps.
//!
//! **Streams are not proven independent.** PCG streams that share a multiplier
//! can be correlated when states and increments are chosen in related ways
//! (rand_pcg's documentation warns of this); here both are outputs of a 64-bit
//! mixer, and `tests/statistics.rs` checks empirically that the chunk estimates
//! are standard normal around π and that counts of neighbouring chunks, seeds
//! and lanes are uncorrelated.
//!
//! **Seeds are not a namespace.** The lanes of seed `s` are SplitMix64 outputs
//! from `s`, so seed `s + j·32γ` (mod 2⁶⁴) has exactly the chunks of seed `s`
//! shifted by `j` (its chunk `c` is chunk `c + j` of seed `s`). Seeds picked by
//! people (0, 1, 2, dates, …) are unrelated: `mix64` turns a difference of 1
//! into an unrelated 64-bit value.

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

/// Points on both sides of the boundary `x² + y² = 2⁶⁴`, and whether each
/// is inside: every kernel's compare is tested on them (random points reach
/// them with a probability of about 2⁻³²).
#[cfg(test)]
pub(crate) const EDGES: [((u32, u32), bool); 13] = [
    ((0, 0), true),
    ((1, 0), true),
    ((0, 1), true),
    ((u32::MAX, 0), true),
    ((0, u32::MAX), true),
    // The largest y with x = 2³² - 1 inside, and the next one.
    ((u32::MAX, 92_681), true),
    ((u32::MAX, 92_682), false),
    ((92_681, u32::MAX), true),
    ((92_682, u32::MAX), false),
    // The diagonal: 2·3037000499² < 2⁶⁴ ≤ 2·3037000500².
    ((3_037_000_499, 3_037_000_499), true),
    ((3_037_000_499, 3_037_000_500), true),
    ((3_037_000_500, 3_037_000_500), false),
    ((u32::MAX, u32::MAX), false),
];

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
    fn seeds_32_gammas_apart_shift_the_chunks_by_one() {
        // The documented limit of the layout: not a bug to fix, a fact to know.
        let s = 20_260_101u64;
        let shifted = s.wrapping_add(GOLDEN_GAMMA.wrapping_mul(2 * LANES as u64));
        for lane in 0..LANES {
            assert_eq!(lane_seed(shifted, 0, lane), lane_seed(s, 1, lane));
            assert_ne!(lane_seed(s + 1, 0, lane), lane_seed(s, 1, lane));
        }
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
        for &((x, y), want) in &EDGES {
            let exact = u128::from(x).pow(2) + u128::from(y).pow(2) < 1 << 64;
            assert_eq!(exact, want, "EDGES is wrong at ({x}, {y})");
            assert_eq!(inside(x, y), want, "({x}, {y})");
        }
    }
}
