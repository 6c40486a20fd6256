//! The portable kernel: plain Rust over the `[u64; 16]` lane arrays.
//!
//! Lanes are independent and only the total count matters, so instead of
//! walking the chunk point by point (round-major, like the reference) this
//! walks it lane-major: a group of `GROUP` lanes runs through all its
//! points with its states, increments and counter held in registers, no
//! loads or stores in the loop. Each point advances a lane by two LCG steps
//! with the jump-ahead `s₂ = A²·s + (A + 1)·inc`, so a lane's loop-carried
//! chain is one multiply-add per point and the group's lanes overlap. The
//! tail is one extra point for lanes `< len mod 16`, which is the same thing
//! as lane `l` drawing `len / 16 + (l < len mod 16)` points. No branch
//! depends on random values.

use super::lanes::{xsh_rr, Lanes, MUL, MUL2};
use super::rng::LANES;

/// Lanes advanced together: two independent chains already fill the core,
/// and keep every value of the loop in registers (four was no faster).
const GROUP: usize = 2;

/// `1` if `(x, y)` is outside (`x² + y² ≥ 2⁶⁴`, the add carries), else `0`.
#[inline(always)]
fn outside(x: u32, y: u32) -> u64 {
    let x2 = u64::from(x) * u64::from(x);
    let y2 = u64::from(y) * u64::from(y);
    u64::from(x2.overflowing_add(y2).1)
}

/// Number of inside points among the `len` points of chunk `chunk`.
pub fn count_inside(seed: u64, chunk: u64, len: u64) -> u64 {
    let lanes = Lanes::new(seed, chunk);
    let rounds = len / LANES as u64;
    let rem = (len % LANES as u64) as usize;
    let mut outside_total = 0u64;
    for g in (0..LANES).step_by(GROUP) {
        let mut state: [u64; GROUP] = std::array::from_fn(|i| lanes.state[g + i]);
        let inc: [u64; GROUP] = std::array::from_fn(|i| lanes.inc[g + i]);
        let inc2: [u64; GROUP] = std::array::from_fn(|i| lanes.inc2[g + i]);
        let mut point = |state: &mut [u64; GROUP], counted: [u64; GROUP]| {
            for i in 0..GROUP {
                let s = state[i];
                let s1 = s.wrapping_mul(MUL).wrapping_add(inc[i]);
                state[i] = s.wrapping_mul(MUL2).wrapping_add(inc2[i]);
                outside_total += outside(xsh_rr(s), xsh_rr(s1)) & counted[i];
            }
        };
        for _ in 0..rounds {
            point(&mut state, [1; GROUP]);
        }
        point(&mut state, std::array::from_fn(|i| u64::from(g + i < rem)));
    }
    len - outside_total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng::EDGES;

    #[test]
    fn the_outside_test_is_exact_at_the_boundary() {
        for &((x, y), want) in &EDGES {
            assert_eq!(outside(x, y), u64::from(!want), "({x}, {y})");
        }
    }
}
