//! Owning an output: the directory held open, and the lock that makes one run
//! its only writer.
//!
//! A run works in the directory it started in, whatever happens to its name:
//! [`HeldDir`] keeps it open and reaches the files through
//! `/proc/self/fd/<fd>/<name>`, so a directory renamed mid-run still gets its
//! checkpoints and results, and messages name where it is now.
//!
//! The claim is a lock file beside the results, held with `flock(2)` for the
//! whole run: the kernel grants it to exactly one process and frees it when
//! that process ends, crash or not, so a crashed run's claim is simply taken
//! over and two runs never both hold one. The file records its owner (host,
//! PID, process start time, run id) for the message that refuses the others.

use crate::sys::clock::UtcTime;
use crate::sys::process;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory held open for the whole run.
#[derive(Debug)]
pub(crate) struct HeldDir {
    fd: File,
    /// The directory as the user named it.
    given: PathBuf,
    /// Where it was when it was opened (`None` without `/proc`).
    opened_at: Option<PathBuf>,
}

impl HeldDir {
    /// Opens `dir`, which messages call `given` (empty for the working
    /// directory, so that a bare name stays bare).
    pub(crate) fn open(dir: &Path, given: &Path) -> std::io::Result<HeldDir> {
        let fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        let mut held = HeldDir {
            fd,
            given: given.to_path_buf(),
            opened_at: None,
        };
        held.opened_at = held.now();
        Ok(held)
    }

    fn link(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Where the directory is now, as the kernel sees it: `None` without
    /// `/proc`, or once it has been removed.
    fn now(&self) -> Option<PathBuf> {
        let at = fs::read_link(self.link()).ok()?;
        let removed = at.as_os_str().as_encoded_bytes().ends_with(b" (deleted)");
        (!removed).then_some(at)
    }

    /// The path through which `name` in this directory is read and written:
    /// through the open directory, so it follows a rename.
    pub(crate) fn io(&self, name: &OsStr) -> PathBuf {
        match self.opened_at {
            Some(_) => self.link().join(name),
            None => self.given().join(name),
        }
    }

    /// The directory as the user named it.
    pub(crate) fn given(&self) -> &Path {
        match self.given.as_os_str().is_empty() {
            true => Path::new("."),
            false => &self.given,
        }
    }

    /// Where `name` is now, for messages: as the user named the directory
    /// while it has not moved, its new place once it has.
    pub(crate) fn shown(&self, name: &OsStr) -> PathBuf {
        match (&self.opened_at, self.now()) {
            (Some(then), Some(now)) if *then != now => now.join(name),
            _ => self.given.join(name),
        }
    }

    /// Whether the directory has been removed since it was opened.
    pub(crate) fn is_removed(&self) -> bool {
        self.opened_at.is_some() && self.now().is_none()
    }
}

/// A claim held: the lock file, locked, and its name in the directory it
/// keeps open (the name is reached through that directory until the end).
#[derive(Debug)]
pub(crate) struct Claim {
    file: File,
    io: PathBuf,
    _dir: Arc<HeldDir>,
}

/// Why a claim was not taken.
#[derive(Debug)]
pub(crate) enum ClaimError {
    /// Another live process holds it; what its file says of it.
    Held {
        owner: String,
    },
    Io(std::io::Error),
}

/// Takes the claim whose lock file is `name` in `dir`, or says who holds it.
pub(crate) fn take(dir: &Arc<HeldDir>, name: &OsStr) -> Result<Claim, ClaimError> {
    let io = dir.io(name);
    loop {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&io)
            .map_err(ClaimError::Io)?;
        // SAFETY: flock on an open descriptor has no memory preconditions.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != ErrorKind::WouldBlock {
                return Err(ClaimError::Io(err));
            }
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            return Err(ClaimError::Held {
                owner: owner.trim().to_string(),
            });
        }
        // The holder before us may have removed the file between our open
        // and our lock: then we hold a lock nobody else can see. Only the
        // file still at the name counts.
        let ours = file.metadata().map_err(ClaimError::Io)?;
        match fs::metadata(&io) {
            Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(ClaimError::Io(e)),
        }
        let owner = owner_record();
        let claim = Claim {
            file,
            io,
            _dir: dir.clone(),
        };
        return match claim
            .file
            .set_len(0)
            .and_then(|()| (&claim.file).write_all(owner.as_bytes()))
        {
            Ok(()) => Ok(claim),
            Err(e) => Err(ClaimError::Io(e)),
        };
    }
}

impl Drop for Claim {
    /// Gives the claim up: removes its file while still holding the lock
    /// (so a process waiting on this file sees it gone and starts again),
    /// then unlocks it by closing it. A crash skips this: the kernel unlocks
    /// the file, which the next run takes over.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.io);
    }
}

/// `pid 4242 on node1, started 2026-11-30T22:15:03Z, run 9f3c0a1b2c3d4e5f`.
fn owner_record() -> String {
    let started = process::start_time().map_or("?".into(), |t: UtcTime| t.iso8601());
    format!(
        "pid {} on {}, started {started}, run {}\n",
        std::process::id(),
        process::hostname(),
        process::run_id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    fn scratch(name: &str) -> PathBuf {
        crate::testing::scratch("claim", name)
    }

    #[test]
    fn a_held_directory_follows_a_rename_and_knows_a_removal() {
        let base = scratch("held");
        let dir = base.join("out");
        fs::create_dir(&dir).unwrap();
        let held = HeldDir::open(&dir, &dir).unwrap();
        let name = OsStr::new("r.h5");
        assert_eq!(held.shown(name), dir.join("r.h5"));
        fs::rename(&dir, base.join("moved")).unwrap();
        fs::write(held.io(name), "kept").unwrap();
        let moved = base.join("moved").join("r.h5");
        assert_eq!(fs::read_to_string(&moved).unwrap(), "kept");
        assert_eq!(held.shown(name), moved.canonicalize().unwrap());
        assert!(!held.is_removed());
        fs::remove_dir_all(base.join("moved")).unwrap();
        assert!(held.is_removed());
        assert_eq!(held.shown(name), dir.join("r.h5"));
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_claim_is_held_once_records_its_owner_and_outlives_no_one() {
        let dir = scratch("lock");
        let held = Arc::new(HeldDir::open(&dir, &dir).unwrap());
        let name = OsStr::new(".r.lock");
        let first = take(&held, name).unwrap();
        match take(&held, name) {
            Err(ClaimError::Held { owner }) => {
                let pid = format!("pid {} on ", std::process::id());
                assert!(owner.starts_with(&pid), "{owner}");
                assert!(owner.contains(", run "), "{owner}");
            }
            other => panic!("{other:?}"),
        }
        // Closed without removing the file, as a crash would: the lock goes
        // with the descriptor and the file left behind is taken over.
        // SAFETY: closes the claim's own descriptor once; `forget` keeps
        // its drop from running (and closing it again).
        unsafe { libc::close(first.file.as_raw_fd()) };
        std::mem::forget(first);
        let second = take(&held, name).unwrap();
        drop(second);
        assert!(!dir.join(".r.lock").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn of_many_threads_taking_and_releasing_at_once_one_holds_at_a_time() {
        let dir = scratch("race");
        let held = Arc::new(HeldDir::open(&dir, &dir).unwrap());
        let holders = Arc::new(std::sync::atomic::AtomicU32::new(0));
        for _ in 0..20 {
            let start = Arc::new(Barrier::new(8));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (held, holders, start) = (held.clone(), holders.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let won = take(&held, OsStr::new(".r.lock"));
                        if let Ok(claim) = won {
                            let now = holders.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            assert_eq!(now, 0, "two holders at once");
                            std::thread::yield_now();
                            holders.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                            drop(claim);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
