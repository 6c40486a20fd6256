//! The portable kernel: plain Rust over `[u64; 16]` lane arrays.
//!
//! Every round advances all 16 lanes by two LCG steps with the jump-ahead
//! `s₂ = A²·s + (A + 1)·inc`, so each lane's dependency chain is one multiply
//! per point instead of two, and the fixed-size loops leave LLVM free to
//! vectorise them at whatever baseline the target has. No branch depends on
//! the random values; the tail round is masked by lane index.

use super::lanes::{xsh_rr, Lanes, MUL, MUL2};
use crate::rng::LANES;

/// `1` if `(x, y)` is inside (`x² + y² < 2⁶⁴`), else `0`.
#[inline(always)]
fn inside(x: u32, y: u32) -> u64 {
    let x2 = u64::from(x) * u64::from(x);
    let y2 = u64::from(y) * u64::from(y);
    u64::from(!x2.overflowing_add(y2).1)
}

/// Number of inside points among the `len` points of chunk `chunk`.
pub fn count_inside(seed: u64, chunk: u64, len: u64) -> u64 {
    let Lanes {
        mut state,
        inc,
        inc2,
    } = Lanes::new(seed, chunk);
    let mut hits = [0u64; LANES];
    for _ in 0..len / LANES as u64 {
        for l in 0..LANES {
            let s = state[l];
            let s1 = s.wrapping_mul(MUL).wrapping_add(inc[l]);
            state[l] = s.wrapping_mul(MUL2).wrapping_add(inc2[l]);
            hits[l] += inside(xsh_rr(s), xsh_rr(s1));
        }
    }
    let rem = (len % LANES as u64) as usize;
    for l in 0..LANES {
        let s = state[l];
        let s1 = s.wrapping_mul(MUL).wrapping_add(inc[l]);
        hits[l] += inside(xsh_rr(s), xsh_rr(s1)) & u64::from(l < rem);
    }
    hits.iter().sum()
}
