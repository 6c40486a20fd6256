//! Who this process is, for the record a claim keeps of its owner: host,
//! PID, when the process started, and a random run id.

use super::clock::UtcTime;

/// This machine's host name (`gethostname`), or `?` if it has none.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match ok && len > 0 {
        true => String::from_utf8_lossy(&buf[..len]).into_owned(),
        false => "?".into(),
    }
}

/// When this process started, from `/proc/self/stat` (field 22, clock
/// ticks since boot) and the boot time in `/proc/stat`; `None` without
/// `/proc`. With the PID it names the process even after the PID is reused.
pub(crate) fn start_time() -> Option<UtcTime> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the parenthesised command name; starttime is the
    // 22nd field of the line, the 20th after the name.
    let (_, rest) = stat.rsplit_once(") ")?;
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|&hz| hz > 0)?;
    Some(UtcTime::from_unix(boot + (ticks / hz) as i64))
}

/// A random 64-bit id from the kernel (`getrandom`), in hex: tells apart two
/// runs whose host, PID and start second are the same (containers).
pub(crate) fn run_id() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: the buffer is valid for its length.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        // No entropy source: the time and PID still make a distinct id.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id()) << 32).to_le_bytes();
    }
    format!("{:016x}", u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_knows_its_host_start_and_a_fresh_id() {
        assert!(!hostname().is_empty());
        let started = start_time().expect("Linux has /proc");
        assert!(started.year >= 2024, "{started:?}");
        let (a, b) = (run_id(), run_id());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
