//! The AVX2 kernel: the 16 lanes live in four `ymm` registers of 4 × u64.
//!
//! AVX2 has no 64-bit multiply, so `a·m mod 2⁶⁴` is built from one `vpmuludq`
//! (32×32→64) and one `vpmulld` for both cross terms. The rest follows the
//! AVX-512 kernel: two independent jump-ahead LCG steps per round, XSH-RR in
//! the 64-bit lanes with the 32-bit rotate done as a 64-bit `vpsrlvq` of the
//! output field duplicated into both halves, exact squares with
//! `vpmuludq`, and the carry of `x² + y²` from a signed compare after flipping
//! the sign bits (AVX2 lacks an unsigned 64-bit compare). Carries (outside
//! points) are counted with `movmskpd` + `popcnt`; the tail round is masked.

use super::lanes::{Lanes, MUL, MUL2};
use super::rng::LANES;
use std::arch::x86_64::*;

/// Registers per chunk.
const REGS: usize = LANES / 4;

/// Whether this CPU can run the kernel.
#[inline]
pub fn is_supported() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Number of inside points among the `len` points of chunk `chunk`.
///
/// # Panics
/// If the CPU lacks AVX2 (callers check [`is_supported`] first).
pub fn count_inside(seed: u64, chunk: u64, len: u64) -> u64 {
    assert!(is_supported(), "the avx2 kernel needs AVX2");
    // SAFETY: the required target feature was just detected at run time.
    unsafe { count(seed, chunk, len) }
}

/// A 64-bit multiplier split into 32-bit halves, splatted.
#[derive(Clone, Copy)]
struct Mul {
    /// `lo(m)` in each 64-bit lane.
    lo: __m256i,
    /// `hi(m) | lo(m) << 32`: the multiplier with its halves swapped.
    swapped: __m256i,
    /// `0xFFFF_FFFF_0000_0000`.
    high_half: __m256i,
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(m: u64) -> Mul {
    Mul {
        lo: _mm256_set1_epi64x((m & 0xFFFF_FFFF) as i64),
        swapped: _mm256_set1_epi64x(m.rotate_left(32) as i64),
        high_half: _mm256_set1_epi64x(!0xFFFF_FFFF),
    }
}

/// `a · m mod 2⁶⁴` in each lane.
#[inline]
#[target_feature(enable = "avx2")]
fn mul64(a: __m256i, m: Mul) -> __m256i {
    // a·m = lo(a)·lo(m) + ((hi(a)·lo(m) + lo(a)·hi(m)) << 32)  (mod 2⁶⁴).
    // The cross terms only matter mod 2³², so one vpmulld against the
    // half-swapped multiplier gives both: lo(a)·hi(m) in the low half and
    // hi(a)·lo(m) in the high half of each 64-bit lane.
    let ll = _mm256_mul_epu32(a, m.lo);
    let cross = _mm256_mullo_epi32(a, m.swapped);
    let summed = _mm256_add_epi64(cross, _mm256_slli_epi64::<32>(cross));
    _mm256_add_epi64(ll, _mm256_and_si256(summed, m.high_half))
}

/// XSH-RR of each lane's state; the output is in the low 32 bits of each
/// 64-bit lane (the high 32 bits are garbage).
#[inline]
#[target_feature(enable = "avx2")]
fn xsh_rr(s: __m256i) -> __m256i {
    // The 32-bit output field is bits 27..59 of (s >> 18) ^ s; shift it into
    // the high half and copy it to the low half, so that a 64-bit right
    // shift by rot (< 32) leaves the 32-bit rotate in the low half.
    let field = _mm256_slli_epi64::<5>(_mm256_xor_si256(_mm256_srli_epi64::<18>(s), s));
    let doubled = _mm256_shuffle_epi32::<0b11_11_01_01>(field);
    _mm256_srlv_epi64(doubled, _mm256_srli_epi64::<59>(s))
}

/// One point per lane from state `s`: advances `s` by two steps and returns
/// all-ones in the lanes whose point is outside (`x² + y² ≥ 2⁶⁴`), else 0.
#[inline]
#[target_feature(enable = "avx2")]
fn outside(s: &mut __m256i, inc: __m256i, inc2: __m256i, a: Mul, a2: Mul) -> __m256i {
    let s0 = *s;
    let s1 = _mm256_add_epi64(mul64(s0, a), inc);
    *s = _mm256_add_epi64(mul64(s0, a2), inc2);
    outside_point(xsh_rr(s0), xsh_rr(s1))
}

/// All-ones in the lanes whose point `(x, y)` is outside, else 0; `x` and
/// `y` in the low 32 bits of each 64-bit lane (the high halves are ignored).
/// On its own so that the tests can feed it the boundary's edge values.
#[inline]
#[target_feature(enable = "avx2")]
fn outside_point(x: __m256i, y: __m256i) -> __m256i {
    // The add x² + y² carries out ⇔ sum < x² (unsigned) ⇔ x²^msb > sum^msb
    // (signed), and sum^msb = (x²^msb) + y² mod 2⁶⁴.
    let x2_flipped = _mm256_xor_si256(_mm256_mul_epu32(x, x), _mm256_set1_epi64x(i64::MIN));
    let sum_flipped = _mm256_add_epi64(x2_flipped, _mm256_mul_epu32(y, y));
    _mm256_cmpgt_epi64(x2_flipped, sum_flipped)
}

#[target_feature(enable = "avx2")]
fn count(seed: u64, chunk: u64, len: u64) -> u64 {
    let lanes = Lanes::new(seed, chunk);
    // SAFETY: each array holds 16 u64, so the 32-byte loads at offsets
    // 0, 4, 8, 12 are in bounds.
    let load = |v: &[u64; LANES]| -> [__m256i; REGS] {
        std::array::from_fn(|r| unsafe { _mm256_loadu_si256(v.as_ptr().add(4 * r).cast()) })
    };
    let mut s = load(&lanes.state);
    let inc = load(&lanes.inc);
    let inc2 = load(&lanes.inc2);
    let (a, a2) = (splat(MUL), splat(MUL2));
    let rounds = len / LANES as u64;
    // The outside lanes are counted on the scalar ports (movmskpd + popcnt),
    // which the vector-bound loop leaves idle.
    let mut outside_main = 0u64;
    for _ in 0..rounds {
        for r in 0..REGS {
            let o = _mm256_castsi256_pd(outside(&mut s[r], inc[r], inc2[r], a, a2));
            outside_main += u64::from(_mm256_movemask_pd(o).count_ones());
        }
    }
    // Tail: one more round, counted only in lanes < len mod 16.
    let valid = (1u32 << (len % LANES as u64)) - 1;
    let mut inside_tail = 0u64;
    for r in 0..REGS {
        let o = _mm256_castsi256_pd(outside(&mut s[r], inc[r], inc2[r], a, a2));
        let inside = !(_mm256_movemask_pd(o) as u32) & (valid >> (4 * r)) & 0xF;
        inside_tail += u64::from(inside.count_ones());
    }
    rounds * LANES as u64 - outside_main + inside_tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng::EDGES;

    #[test]
    fn the_outside_test_is_exact_at_the_boundary() {
        if !is_supported() {
            eprintln!("no AVX2 on this CPU: nothing to test here");
            return;
        }
        // Four points per register, with garbage in the high halves.
        for points in EDGES.chunks(4) {
            let lane = |i: usize, pick: fn((u32, u32)) -> u32| {
                let v = points.get(i).map_or(0, |&(p, _)| pick(p));
                ((0xDEAD_BEEF_u64 << 32) | u64::from(v)) as i64
            };
            // SAFETY (both): AVX2 was detected above.
            let vector = |pick: fn((u32, u32)) -> u32| unsafe {
                _mm256_set_epi64x(lane(3, pick), lane(2, pick), lane(1, pick), lane(0, pick))
            };
            let (x, y) = (vector(|p| p.0), vector(|p| p.1));
            let mask = unsafe { _mm256_movemask_pd(_mm256_castsi256_pd(outside_point(x, y))) };
            for (i, &((x, y), want)) in points.iter().enumerate() {
                assert_eq!(mask >> i & 1 == 0, want, "({x}, {y})");
            }
        }
    }
}
