//! Clocks: UTC timestamps for file names and metadata, process and thread
//! CPU time, and the wall clock the run loops wait on.

use crate::run::pace::{self, Pause};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A UTC calendar time, to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcTime {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl UtcTime {
    pub(crate) fn now() -> UtcTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UtcTime::from_unix(since.as_secs() as i64)
    }

    /// Calendar time of a Unix timestamp (Hinnant's `civil_from_days`).
    pub(crate) fn from_unix(secs: i64) -> UtcTime {
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        UtcTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `yyyymmddThhmmssZ`, for file names.
    pub(crate) fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// ISO 8601, `yyyy-mm-ddThh:mm:ssZ`.
    pub(crate) fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// The real clock: time since it was made, and real pauses.
pub(crate) struct WallClock {
    origin: Instant,
}

impl WallClock {
    pub(crate) fn new() -> WallClock {
        WallClock {
            origin: Instant::now(),
        }
    }
}

impl crate::run::transport::Clock for WallClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn cpu(&self) -> Duration {
        process_cpu_time()
    }

    fn pause(&mut self, pause: Pause) {
        pace::wait(pause)
    }
}

/// CPU time (user + system) consumed so far by this whole process, including
/// any progress threads the MPI library runs.
pub(crate) fn process_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time consumed so far by the calling thread.
pub(crate) fn thread_cpu_time() -> Duration {
    cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_clock(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids are
    // constants every POSIX system with CPU-time clocks provides.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(UtcTime::from_unix(0).iso8601(), "1970-01-01T00:00:00Z");
        assert_eq!(
            UtcTime::from_unix(951_782_400).iso8601(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix(1_795_915_525).compact(),
            "20261129T012525Z"
        );
        assert_eq!(
            UtcTime::from_unix(4_107_542_399).iso8601(),
            "2100-02-28T23:59:59Z"
        );
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let (process, thread) = (process_cpu_time(), thread_cpu_time());
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(process_cpu_time() > process, "{x}");
        assert!(thread_cpu_time() > thread, "{x}");
    }
}
