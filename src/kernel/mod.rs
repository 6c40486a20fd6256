//! The sampling kernel: counts the points of one chunk that fall inside the
//! quarter circle, following the `pcg32x16-v1` contract of [`rng`].
//!
//! [`scalar`] is the readable reference every other path must match exactly.
//! The other paths step all 16 lanes together and are bit-identical to it:
//! [`portable`] (plain Rust, any architecture) and, on x86-64, `avx2` and
//! `avx512` (hand-written `std::arch` intrinsics behind runtime CPU detection;
//! the default build does not need `-C target-cpu=native`).
//!
//! `scripts/bench.sh` measures every path against the scalar reference, the
//! idiomatic `rand` f64 loop and a `-C target-cpu=native` build.

mod lanes;
pub mod portable;
pub mod rng;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;

use std::fmt;

/// Why `MCPI_KERNEL` is refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum KernelError {
    #[error("MCPI_KERNEL={0} is not a kernel (choose one of: {names})", names = Kernel::ALL.map(|k| k.name()).join(", "))]
    Unknown(String),
    #[error("MCPI_KERNEL={0}: this CPU does not support it")]
    Unsupported(String),
    #[error("MCPI_KERNEL={0} is not valid UTF-8, so it names no kernel")]
    NotUnicode(String),
}

/// A kernel implementation, chosen once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// 16 lanes in two 512-bit registers (x86-64 with AVX-512F and DQ).
    Avx512,
    /// 16 lanes in four 256-bit registers (x86-64 with AVX2).
    Avx2,
    /// 16 lanes in plain Rust arrays, auto-vectorised for the build target.
    Portable,
    /// One `rand_pcg::Pcg32` call at a time: the tested reference.
    Scalar,
}

impl Kernel {
    /// Every kernel this build knows, best first.
    pub const ALL: [Kernel; 4] = [
        Kernel::Avx512,
        Kernel::Avx2,
        Kernel::Portable,
        Kernel::Scalar,
    ];

    /// `MCPI_KERNEL` as set, without surrounding white space; `None` when it
    /// is unset or blank.
    pub fn from_env() -> Result<Option<String>, KernelError> {
        match std::env::var("MCPI_KERNEL") {
            Ok(name) => Ok(Some(name.trim().to_string()).filter(|n| !n.is_empty())),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(raw)) => {
                Err(KernelError::NotUnicode(raw.to_string_lossy().into_owned()))
            }
        }
    }

    /// The kernel to use: `MCPI_KERNEL` if set (an error if unknown or not
    /// supported by this CPU), otherwise the fastest one this CPU supports.
    pub fn select(env_override: Option<&str>) -> Result<Kernel, KernelError> {
        match env_override {
            None | Some("") => Ok(Self::best()),
            Some(name) => {
                let kernel = Self::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| KernelError::Unknown(name.into()))?;
                if kernel.is_supported() {
                    Ok(kernel)
                } else {
                    Err(KernelError::Unsupported(name.into()))
                }
            }
        }
    }

    /// The fastest kernel this CPU supports.
    pub fn best() -> Kernel {
        Self::ALL
            .into_iter()
            .find(|k| k.is_supported())
            .unwrap_or(Kernel::Scalar)
    }

    /// Whether this CPU can run the kernel.
    ///
    /// Detection uses `is_x86_feature_detected!`, which queries CPUID once per
    /// process and caches the answer.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::is_supported(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::is_supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Avx2 => false,
            Kernel::Portable | Kernel::Scalar => true,
        }
    }

    /// The name used by `MCPI_KERNEL`, `--json` and the HDF5 attributes.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
            Kernel::Scalar => "scalar",
        }
    }

    /// Number of inside points among the `len` points of chunk `chunk`.
    ///
    /// # Panics
    /// If the kernel is not supported by this CPU (see
    /// [`Kernel::is_supported`]; [`Kernel::select`] never returns such a one).
    pub fn count_inside(self, seed: u64, chunk: u64, len: u64) -> u64 {
        match self {
            // The SIMD entry points are safe functions that check the CPU
            // features themselves (a cached flag test per chunk) before
            // entering their `#[target_feature]` code.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::count_inside(seed, chunk, len),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::count_inside(seed, chunk, len),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Avx2 => {
                panic!("the {self} kernel exists only on x86-64")
            }
            Kernel::Portable => portable::count_inside(seed, chunk, len),
            Kernel::Scalar => scalar::count_inside(seed, chunk, len),
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_names_are_checked() {
        assert_eq!(Kernel::select(None), Ok(Kernel::best()));
        assert_eq!(Kernel::select(Some("scalar")), Ok(Kernel::Scalar));
        let err = Kernel::select(Some("avx9000")).unwrap_err();
        assert_eq!(err, KernelError::Unknown("avx9000".into()));
        assert_eq!(
            err.to_string(),
            "MCPI_KERNEL=avx9000 is not a kernel (choose one of: avx512, avx2, portable, scalar)"
        );
        for kernel in Kernel::ALL {
            let selected = Kernel::select(Some(kernel.name()));
            if kernel.is_supported() {
                assert_eq!(selected, Ok(kernel));
            } else {
                let name = kernel.name().to_string();
                assert_eq!(selected, Err(KernelError::Unsupported(name)));
            }
        }
    }

    #[test]
    fn best_is_the_first_supported() {
        let best = Kernel::best();
        assert!(best.is_supported());
        let pos = Kernel::ALL.iter().position(|k| *k == best).unwrap();
        assert!(Kernel::ALL[..pos].iter().all(|k| !k.is_supported()));
    }

    #[test]
    fn every_supported_kernel_matches_the_reference() {
        for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
            for len in (0..=80).chain([1000, 4095, 4096, 4097, 100_003]) {
                for (seed, chunk) in [(0, 0), (42, 7), (u64::MAX, u64::MAX)] {
                    assert_eq!(
                        kernel.count_inside(seed, chunk, len),
                        scalar::count_inside(seed, chunk, len),
                        "{kernel} seed={seed} chunk={chunk} len={len}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_answer_on_every_kernel() {
        for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
            assert_eq!(kernel.count_inside(42, 0, 1_000_000), 785_676, "{kernel}");
        }
    }
}
