//! The AVX-512 kernel: the 16 lanes live in two `zmm` registers of 8 × u64.
//!
//! Per round each register takes two LCG steps through the jump-ahead
//! `s₁ = A·s + inc`, `s₂ = A²·s + (A + 1)·inc` (two independent multiplies, so
//! the loop-carried chain is a single multiply-add), XSH-RR is done in place
//! in the 64-bit lanes (the 32-bit rotate `vprorvd` acts on the low halves,
//! which hold the output; the high halves are ignored afterwards), `vpmuludq`
//! squares the low 32 bits exactly, and the carry of `x² + y²` is an unsigned
//! compare. The inside mask is popcounted into a scalar counter; the tail round
//! is the same computation under a lane mask.
//!
//! The 64-bit multiply is `vpmullq` (AVX-512DQ). Building it from three
//! `vpmuludq` instead ([`count_inside_mul32`]) was about 1.7× slower on a
//! Zen 5 EPYC. On Intel `vpmullq` is 3 µops with ~15 cycles latency; the loop
//! carries only one multiply-add per register and round, so it should still
//! be throughput-bound there, but that is not measured yet: the benchmark
//! (`benches/kernel.rs`, `avx512-mul32`) runs both so it can be re-checked on
//! any CPU.

use super::lanes::{Lanes, MUL, MUL2};
use super::rng::LANES;
use std::arch::x86_64::*;

/// Whether this CPU can run the kernel.
#[inline]
pub fn is_supported() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")
}

/// Number of inside points among the `len` points of chunk `chunk`.
///
/// # Panics
/// If the CPU lacks AVX-512F/DQ (callers check [`is_supported`] first).
pub fn count_inside(seed: u64, chunk: u64, len: u64) -> u64 {
    assert!(is_supported(), "the avx512 kernel needs AVX-512F and DQ");
    // SAFETY: the required target features were just detected at run time.
    unsafe { count::<true>(seed, chunk, len) }
}

/// Same as [`count_inside`], but builds the 64-bit multiply from three
/// `vpmuludq` instead of `vpmullq` (kept for benchmarking the choice).
pub fn count_inside_mul32(seed: u64, chunk: u64, len: u64) -> u64 {
    assert!(is_supported(), "the avx512 kernel needs AVX-512F and DQ");
    // SAFETY: the required target features were just detected at run time.
    unsafe { count::<false>(seed, chunk, len) }
}

/// A 64-bit multiplier splatted for both multiply strategies.
#[derive(Clone, Copy)]
struct Mul {
    full: __m512i,
    lo: __m512i,
    hi: __m512i,
}

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(m: u64) -> Mul {
    Mul {
        full: _mm512_set1_epi64(m as i64),
        lo: _mm512_set1_epi64((m & 0xFFFF_FFFF) as i64),
        hi: _mm512_set1_epi64((m >> 32) as i64),
    }
}

/// `a · m mod 2⁶⁴` in each lane.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn mul64<const MULLO: bool>(a: __m512i, m: Mul) -> __m512i {
    if MULLO {
        _mm512_mullo_epi64(a, m.full)
    } else {
        // a·m = lo(a)·lo(m) + ((hi(a)·lo(m) + lo(a)·hi(m)) << 32)  (mod 2⁶⁴)
        let ll = _mm512_mul_epu32(a, m.lo);
        let hl = _mm512_mul_epu32(_mm512_srli_epi64::<32>(a), m.lo);
        let lh = _mm512_mul_epu32(a, m.hi);
        _mm512_add_epi64(ll, _mm512_slli_epi64::<32>(_mm512_add_epi64(hl, lh)))
    }
}

/// XSH-RR of each lane's state; the output is in the low 32 bits of each
/// 64-bit lane (the high 32 bits are garbage).
#[inline]
#[target_feature(enable = "avx512f")]
fn xsh_rr(s: __m512i) -> __m512i {
    let xorshifted = _mm512_srli_epi64::<27>(_mm512_xor_si512(_mm512_srli_epi64::<18>(s), s));
    // rot < 32 sits in the low half; the high half of the count is 0.
    let rot = _mm512_srli_epi64::<59>(s);
    _mm512_rorv_epi32(xorshifted, rot)
}

/// One point per lane from state `s`: advances `s` by two steps and returns
/// the mask of lanes whose point is inside.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn point<const MULLO: bool>(
    s: &mut __m512i,
    inc: __m512i,
    inc2: __m512i,
    a: Mul,
    a2: Mul,
) -> __mmask8 {
    let s0 = *s;
    let s1 = _mm512_add_epi64(mul64::<MULLO>(s0, a), inc);
    *s = _mm512_add_epi64(mul64::<MULLO>(s0, a2), inc2);
    inside(xsh_rr(s0), xsh_rr(s1))
}

/// The lanes whose point `(x, y)` is inside, `x` and `y` in the low 32 bits
/// of each 64-bit lane (the high halves are ignored). On its own so that the
/// tests can feed it the boundary's edge values.
#[inline]
#[target_feature(enable = "avx512f")]
fn inside(x: __m512i, y: __m512i) -> __mmask8 {
    let x2 = _mm512_mul_epu32(x, x);
    let sum = _mm512_add_epi64(x2, _mm512_mul_epu32(y, y));
    // No carry out of the 64-bit sum ⇔ x² + y² < 2⁶⁴.
    _mm512_cmpge_epu64_mask(sum, x2)
}

#[target_feature(enable = "avx512f,avx512dq")]
fn count<const MULLO: bool>(seed: u64, chunk: u64, len: u64) -> u64 {
    let lanes = Lanes::new(seed, chunk);
    // SAFETY: each array holds 16 u64, so both unaligned 64-byte loads at
    // offsets 0 and 8 are in bounds.
    let load =
        |v: &[u64; LANES], at: usize| unsafe { _mm512_loadu_si512(v.as_ptr().add(at).cast()) };
    let (mut s0, mut s1) = (load(&lanes.state, 0), load(&lanes.state, 8));
    let (inc0, inc1) = (load(&lanes.inc, 0), load(&lanes.inc, 8));
    let (incb0, incb1) = (load(&lanes.inc2, 0), load(&lanes.inc2, 8));
    let (a, a2) = (splat(MUL), splat(MUL2));
    // Counting with popcnt on the mask keeps the vector ports, the
    // bottleneck, free of the accumulation.
    let mut hits = 0u64;
    for _ in 0..len / LANES as u64 {
        let m0 = point::<MULLO>(&mut s0, inc0, incb0, a, a2);
        let m1 = point::<MULLO>(&mut s1, inc1, incb1, a, a2);
        hits += u64::from(m0.count_ones() + m1.count_ones());
    }
    // Tail: one more round, counted only in lanes < len mod 16.
    let valid = (1u32 << (len % LANES as u64)) - 1;
    let m0 = point::<MULLO>(&mut s0, inc0, incb0, a, a2) & valid as u8;
    let m1 = point::<MULLO>(&mut s1, inc1, incb1, a, a2) & (valid >> 8) as u8;
    hits + u64::from(m0.count_ones() + m1.count_ones())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng::EDGES;
    use crate::kernel::scalar;

    #[test]
    fn the_inside_test_is_exact_at_the_boundary() {
        if !is_supported() {
            eprintln!("no AVX-512F/DQ on this CPU: nothing to test here");
            return;
        }
        // Eight points per register, with garbage in the high halves.
        for points in EDGES.chunks(8) {
            let lane = |i: usize, pick: fn((u32, u32)) -> u32| {
                let v = points.get(i).map_or(0, |&(p, _)| pick(p));
                ((0xDEAD_BEEF_u64 << 32) | u64::from(v)) as i64
            };
            let vector = |pick: fn((u32, u32)) -> u32| {
                let l: [i64; 8] = std::array::from_fn(|i| lane(i, pick));
                // SAFETY: AVX-512F was detected above.
                unsafe { _mm512_set_epi64(l[7], l[6], l[5], l[4], l[3], l[2], l[1], l[0]) }
            };
            let (x, y) = (vector(|p| p.0), vector(|p| p.1));
            // SAFETY: AVX-512F was detected above.
            let mask = unsafe { inside(x, y) };
            for (i, &((x, y), want)) in points.iter().enumerate() {
                assert_eq!(mask >> i & 1 == 1, want, "({x}, {y})");
            }
        }
    }

    #[test]
    fn both_multiplies_match_the_reference() {
        if !is_supported() {
            eprintln!("no AVX-512F/DQ on this CPU: nothing to test here");
            return;
        }
        for len in (0..=64).chain([1000, 4097, 65_536 + 5]) {
            for (seed, chunk) in [(0, 0), (7, 1), (u64::MAX, 1 << 40)] {
                let expected = scalar::count_inside(seed, chunk, len);
                assert_eq!(
                    count_inside(seed, chunk, len),
                    expected,
                    "vpmullq, len {len}"
                );
                assert_eq!(
                    count_inside_mul32(seed, chunk, len),
                    expected,
                    "vpmuludq, len {len}"
                );
            }
        }
    }
}
