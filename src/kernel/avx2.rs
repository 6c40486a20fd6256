//! The AVX2 kernel: the 16 lanes live in four `ymm` registers of 4 × u64.
//!
//! AVX2 has no 64-bit multiply, so `a·m mod 2⁶⁴` is built from three
//! `vpmuludq` (32×32→64) and shifts. The rest follows the AVX-512 kernel: two
//! independent jump-ahead LCG steps per round, XSH-RR in the 64-bit lanes with
//! the 32-bit rotate emulated by `vpsrlvd`/`vpsllvd`, exact squares with
//! `vpmuludq`, and the carry of `x² + y²` from a signed compare after flipping
//! the sign bits (AVX2 lacks an unsigned 64-bit compare). Carries (outside
//! points) are subtracted into per-lane counters; the tail round is masked.

use super::lanes::{Lanes, MUL, MUL2};
use crate::rng::LANES;
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
    lo: __m256i,
    hi: __m256i,
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(m: u64) -> Mul {
    Mul {
        lo: _mm256_set1_epi64x((m & 0xFFFF_FFFF) as i64),
        hi: _mm256_set1_epi64x((m >> 32) as i64),
    }
}

/// `a · m mod 2⁶⁴` in each lane.
#[inline]
#[target_feature(enable = "avx2")]
fn mul64(a: __m256i, m: Mul) -> __m256i {
    // a·m = lo(a)·lo(m) + ((hi(a)·lo(m) + lo(a)·hi(m)) << 32)  (mod 2⁶⁴)
    let ll = _mm256_mul_epu32(a, m.lo);
    let hl = _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), m.lo);
    let lh = _mm256_mul_epu32(a, m.hi);
    _mm256_add_epi64(ll, _mm256_slli_epi64::<32>(_mm256_add_epi64(hl, lh)))
}

/// XSH-RR of each lane's state; the output is in the low 32 bits of each
/// 64-bit lane (the high 32 bits are garbage).
#[inline]
#[target_feature(enable = "avx2")]
fn xsh_rr(s: __m256i) -> __m256i {
    let xorshifted = _mm256_srli_epi64::<27>(_mm256_xor_si256(_mm256_srli_epi64::<18>(s), s));
    // rot < 32 in the low half, 0 in the high half.
    let rot = _mm256_srli_epi64::<59>(s);
    // Shift counts ≥ 32 give 0, so rot = 0 correctly yields the input.
    let back = _mm256_sub_epi32(_mm256_set1_epi32(32), rot);
    _mm256_or_si256(
        _mm256_srlv_epi32(xorshifted, rot),
        _mm256_sllv_epi32(xorshifted, back),
    )
}

/// One point per lane from state `s`: advances `s` by two steps and returns
/// all-ones in the lanes whose point is outside (`x² + y² ≥ 2⁶⁴`), else 0.
#[inline]
#[target_feature(enable = "avx2")]
fn outside(s: &mut __m256i, inc: __m256i, inc2: __m256i, a: Mul, a2: Mul) -> __m256i {
    let s0 = *s;
    let s1 = _mm256_add_epi64(mul64(s0, a), inc);
    *s = _mm256_add_epi64(mul64(s0, a2), inc2);
    let x = xsh_rr(s0);
    let y = xsh_rr(s1);
    let x2 = _mm256_mul_epu32(x, x);
    let sum = _mm256_add_epi64(x2, _mm256_mul_epu32(y, y));
    // The add carried out ⇔ sum < x² (unsigned) ⇔ x²^msb > sum^msb (signed).
    let msb = _mm256_set1_epi64x(i64::MIN);
    _mm256_cmpgt_epi64(_mm256_xor_si256(x2, msb), _mm256_xor_si256(sum, msb))
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
    let mut out = [_mm256_setzero_si256(); REGS];
    let rounds = len / LANES as u64;
    for _ in 0..rounds {
        for r in 0..REGS {
            out[r] = _mm256_sub_epi64(out[r], outside(&mut s[r], inc[r], inc2[r], a, a2));
        }
    }
    // Tail: one more round, counted only in lanes < len mod 16.
    let rem = (len % LANES as u64) as usize;
    let valid: [i64; LANES] = std::array::from_fn(|l| -i64::from(l < rem));
    let valid = load(&valid.map(|v| v as u64));
    let mut tail = _mm256_setzero_si256();
    for r in 0..REGS {
        let o = outside(&mut s[r], inc[r], inc2[r], a, a2);
        tail = _mm256_sub_epi64(tail, _mm256_andnot_si256(o, valid[r]));
    }
    let mut sums = [0u64; 4];
    let total = _mm256_add_epi64(
        _mm256_add_epi64(out[0], out[1]),
        _mm256_add_epi64(out[2], out[3]),
    );
    // SAFETY: `sums` is 32 bytes.
    unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), total) };
    let outside_main: u64 = sums.iter().sum();
    // SAFETY: `sums` is 32 bytes.
    unsafe { _mm256_storeu_si256(sums.as_mut_ptr().cast(), tail) };
    let inside_tail: u64 = sums.iter().sum();
    rounds * LANES as u64 - outside_main + inside_tail
}
