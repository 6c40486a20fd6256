//! The estimate and its uncertainty, and the ipyparallel-style timings.

/// z for a two-sided 95% normal interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// pi estimated from `inside` hits among `samples` uniform points (all zero
/// for no points).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    pub pi: f64,
    /// Standard error `4·sqrt(p(1-p)/n)` with `p = inside/samples`.
    pub stderr: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    /// `|pi - π|`.
    pub abs_error: f64,
}

impl Estimate {
    pub fn new(inside: u64, samples: u64) -> Estimate {
        assert!(samples > 0 && inside <= samples);
        let n = samples as f64;
        let p = inside as f64 / n;
        let pi = 4.0 * p;
        let stderr = 4.0 * (p * (1.0 - p) / n).sqrt();
        Estimate {
            pi,
            stderr,
            ci95_low: pi - Z95 * stderr,
            ci95_high: pi + Z95 * stderr,
            abs_error: (pi - std::f64::consts::PI).abs(),
        }
    }
}

/// Points the chunks taken must hold before `--precision` can be met:
/// below that the normal interval is unreliable (a few points, all inside,
/// give an interval of width zero).
pub const MIN_POINTS_FOR_PRECISION: u64 = 10_000;

/// Whether `inside` of `samples` points give a 95% interval of pi of at most
/// `+-precision` (and enough points to trust it).
pub fn meets(inside: u64, samples: u64, precision: f64) -> bool {
    samples >= MIN_POINTS_FOR_PRECISION && Z95 * Estimate::new(inside, samples).stderr <= precision
}

/// Parallel timings, named as ipyparallel's `AsyncResult` names them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timings {
    /// Controller wall time of the parallel section (`ar.elapsed`).
    pub elapsed_s: f64,
    /// Sum of the per-chunk compute times on the engines (`ar.serial_time`).
    pub serial_s: f64,
    /// Number of engines that took part (averaged over sessions, weighted by
    /// their elapsed times, when a resumed run changed it).
    pub engines: f64,
}

impl Timings {
    /// `serial_time / elapsed`: how many engines' worth of work ran at once.
    pub fn speedup(&self) -> f64 {
        ratio(self.serial_s, self.elapsed_s)
    }

    /// `speedup / engines`.
    pub fn efficiency(&self) -> f64 {
        ratio(self.speedup(), self.engines)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_needs_enough_points_and_a_narrow_interval() {
        // 10^4 points at p = pi/4: the half-width is 1.96 * 4 * 0.41 / 100.
        assert!(meets(7854, 10_000, 0.033));
        assert!(!meets(7854, 10_000, 0.031));
        assert!(!meets(9_999, 9_999, 1.0), "all inside, too few points");
        assert!(meets(10_000, 10_000, 1e-9), "all inside: width zero");
    }

    #[test]
    fn estimate_of_a_known_count() {
        let e = Estimate::new(750_000, 1_000_000);
        assert_eq!(e.pi, 3.0);
        // 4·sqrt(0.75·0.25/1e6)
        assert!((e.stderr - 0.001_732_050_807_568_877).abs() < 1e-15);
        assert!((e.ci95_low - (3.0 - Z95 * e.stderr)).abs() < 1e-15);
        assert!((e.ci95_high - (3.0 + Z95 * e.stderr)).abs() < 1e-15);
        assert!((e.abs_error - (std::f64::consts::PI - 3.0)).abs() < 1e-15);
    }

    #[test]
    fn degenerate_counts_have_zero_error() {
        assert_eq!(Estimate::new(1, 1).stderr, 0.0);
        assert_eq!(Estimate::new(0, 5).pi, 0.0);
    }

    #[test]
    fn speedup_and_efficiency() {
        let t = Timings {
            elapsed_s: 2.0,
            serial_s: 6.0,
            engines: 4.0,
        };
        assert_eq!(t.speedup(), 3.0);
        assert_eq!(t.efficiency(), 0.75);
        let zero = Timings {
            elapsed_s: 0.0,
            serial_s: 1.0,
            engines: 1.0,
        };
        assert_eq!(zero.speedup(), 0.0);
    }
}
