//! The raw PCG32 lane state shared by the vector kernels.
//!
//! `rand_pcg::Pcg32` keeps its `(state, increment)` private, so the SIMD paths
//! rebuild them from [`super::rng::lane_seed`] exactly as `Pcg32::new` does
//! (`increment = (stream << 1) | 1`, `state += increment`, one LCG step). The
//! tests below pin this against `Pcg32` itself.

use super::rng::{lane_seed, LANES};

/// The PCG32 (64-bit LCG) multiplier `A`.
pub const MUL: u64 = 6_364_136_223_846_793_005;

/// `A²`: two LCG steps at once, `s₂ = A²·s + (A + 1)·inc`.
pub const MUL2: u64 = MUL.wrapping_mul(MUL);

/// The 16 lanes of one chunk, ready to draw, plus the two-step increments.
pub struct Lanes {
    /// Current LCG state of each lane (the next `next_u32` outputs from it).
    pub state: [u64; LANES],
    /// Each lane's increment: `s₁ = A·s + inc`.
    pub inc: [u64; LANES],
    /// Each lane's two-step increment `(A + 1)·inc`: `s₂ = A²·s + inc2`.
    pub inc2: [u64; LANES],
}

impl Lanes {
    /// The lanes of chunk `chunk` for `seed`, identical to
    /// [`super::rng::chunk_lanes`].
    #[inline]
    pub fn new(seed: u64, chunk: u64) -> Lanes {
        let mut lanes = Lanes {
            state: [0; LANES],
            inc: [0; LANES],
            inc2: [0; LANES],
        };
        for l in 0..LANES {
            let (state, stream) = lane_seed(seed, chunk, l);
            let inc = (stream << 1) | 1;
            lanes.inc[l] = inc;
            lanes.inc2[l] = inc.wrapping_mul(MUL.wrapping_add(1));
            lanes.state[l] = state.wrapping_add(inc).wrapping_mul(MUL).wrapping_add(inc);
        }
        lanes
    }
}

/// PCG's XSH-RR output function of a state (what `next_u32` returns before
/// stepping).
#[inline(always)]
pub fn xsh_rr(s: u64) -> u32 {
    let xorshifted = (((s >> 18) ^ s) >> 27) as u32;
    xorshifted.rotate_right((s >> 59) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng::chunk_lanes;
    use rand::Rng;

    #[test]
    fn lanes_reproduce_pcg32_draw_for_draw() {
        for (seed, chunk) in [(0, 0), (42, 7), (u64::MAX, u64::MAX)] {
            let mut reference = chunk_lanes(seed, chunk);
            let Lanes {
                mut state,
                inc,
                inc2,
            } = Lanes::new(seed, chunk);
            for _ in 0..100 {
                for l in 0..LANES {
                    let s1 = state[l].wrapping_mul(MUL).wrapping_add(inc[l]);
                    assert_eq!(xsh_rr(state[l]), reference[l].next_u32());
                    assert_eq!(xsh_rr(s1), reference[l].next_u32());
                    let s2 = state[l].wrapping_mul(MUL2).wrapping_add(inc2[l]);
                    assert_eq!(s2, s1.wrapping_mul(MUL).wrapping_add(inc[l]));
                    state[l] = s2;
                }
            }
        }
    }
}
