//! Every kernel this CPU supports counts exactly what the scalar reference
//! counts, for random seeds, chunk ids and lengths (tails included).

use mcpi::kernel::{scalar, Kernel};
use proptest::prelude::*;

/// The kernels to check: every one this CPU supports, except the reference.
fn kernels_under_test() -> Vec<Kernel> {
    Kernel::ALL
        .into_iter()
        .filter(|k| *k != Kernel::Scalar && k.is_supported())
        .collect()
}

/// Lengths anywhere in 0..10 000, and within ±3 of a multiple of 16.
fn lengths() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..10_000u64,
        (0..=625u64, -3..=3i64).prop_map(|(k, d)| (16 * k).saturating_add_signed(d)),
    ]
}

/// Chunk ids: small ones (what runs use) and arbitrary ones.
fn chunks() -> impl Strategy<Value = u64> {
    prop_oneof![0..1_000u64, any::<u64>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_kernel_equals_the_scalar_reference(
        seed in any::<u64>(),
        chunk in chunks(),
        len in lengths(),
    ) {
        let expected = scalar::count_inside(seed, chunk, len);
        for kernel in kernels_under_test() {
            prop_assert_eq!(
                kernel.count_inside(seed, chunk, len),
                expected,
                "kernel {} seed {} chunk {} len {}", kernel, seed, chunk, len
            );
        }
    }
}

/// The property above silently covers only what `is_supported` reports, so
/// check that report against the CPU independently: a CPU with AVX-512 or
/// AVX2 must have had those paths tested.
#[test]
fn the_simd_paths_this_cpu_has_are_under_test() {
    let tested: Vec<&str> = kernels_under_test().iter().map(|k| k.name()).collect();
    eprintln!("kernels checked against the scalar reference: {tested:?}");
    assert!(tested.contains(&"portable"));
    #[cfg(target_arch = "x86_64")]
    {
        let avx512 =
            std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq");
        assert_eq!(tested.contains(&"avx512"), avx512, "avx512 coverage");
        let avx2 = std::is_x86_feature_detected!("avx2");
        assert_eq!(tested.contains(&"avx2"), avx2, "avx2 coverage");
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert!(!tested.contains(&"avx512") && !tested.contains(&"avx2"));
    // MCPI_REQUIRE_KERNELS=avx512,avx2 makes a CI run fail if it landed on a
    // CPU without them, instead of passing with less coverage.
    if let Ok(required) = std::env::var("MCPI_REQUIRE_KERNELS") {
        for name in required.split(',').filter(|n| !n.is_empty()) {
            assert!(tested.contains(&name), "{name} required but not available");
        }
    }
}

#[test]
fn dispatch_picks_the_best_and_honours_the_override() {
    let best = Kernel::select(None).unwrap();
    assert_eq!(Some(&best), Kernel::ALL.iter().find(|k| k.is_supported()));
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
        assert_eq!(best, Kernel::Avx512);
    }
    for kernel in Kernel::ALL {
        match Kernel::select(Some(kernel.name())) {
            Ok(k) => assert!(k == kernel && kernel.is_supported()),
            Err(e) => assert!(!kernel.is_supported() && e.to_string().contains(kernel.name())),
        }
    }
}

/// Long chunks, where per-lane counters run for many rounds.
#[test]
fn long_chunks_match() {
    for kernel in kernels_under_test() {
        for (seed, chunk, len) in [(1, 2, 3_000_017), (u64::MAX, 0, 2_000_000)] {
            assert_eq!(
                kernel.count_inside(seed, chunk, len),
                scalar::count_inside(seed, chunk, len),
                "{kernel}"
            );
        }
    }
}
