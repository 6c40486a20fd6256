//! The sampling kernel: counts the points of one chunk that fall inside the
//! quarter circle, following the `pcg32x16-v1` contract of [`crate::rng`].
//!
//! [`scalar`] is the readable reference every other path must match exactly.

pub mod scalar;

use std::fmt;

/// A kernel implementation, chosen once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// One `rand_pcg::Pcg32` call at a time: the tested reference.
    Scalar,
}

impl Kernel {
    /// Every kernel this build knows, best first.
    pub const ALL: [Kernel; 1] = [Kernel::Scalar];

    /// The kernel to use: `MCPI_KERNEL` if set (an error if unknown or not
    /// supported by this CPU), otherwise the fastest one this CPU supports.
    pub fn select(env_override: Option<&str>) -> Result<Kernel, String> {
        match env_override {
            None | Some("") => Ok(Self::best()),
            Some(name) => {
                let kernel = Self::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        format!(
                            "MCPI_KERNEL={name} is not a kernel (choose one of: {})",
                            Self::ALL.map(|k| k.name()).join(", ")
                        )
                    })?;
                if kernel.is_supported() {
                    Ok(kernel)
                } else {
                    Err(format!("MCPI_KERNEL={name}: this CPU does not support it"))
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
    pub fn is_supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
        }
    }

    /// The name used by `MCPI_KERNEL`, `--json` and the HDF5 attributes.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
        }
    }

    /// Number of inside points among the `len` points of chunk `chunk`.
    pub fn count_inside(self, seed: u64, chunk: u64, len: u64) -> u64 {
        match self {
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
        assert!(err.contains("avx9000") && err.contains("scalar"), "{err}");
    }
}
