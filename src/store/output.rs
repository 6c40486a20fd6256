//! Where results go, and how they get there without ever clobbering one.
//!
//! Every check runs on rank 0 before any work starts: [`reserve`] validates the
//! path and claims a hidden temporary file next to it (`.<name>.tmp`, created
//! exclusively, so two runs never pick the same name); the results are written
//! there and [`Target::publish`] moves them into place in one step, so a reader
//! never sees half a file and an existing result is only replaced with
//! `--force`.

use super::checkpoint::partial_path;
use super::journal;
use crate::sys::clock::UtcTime;
use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Directory of the default output paths.
pub(crate) const RESULTS_DIR: &str = "results";

/// A claimed output: the final path, the temporary file reserved for it, and
/// the checkpoint kept beside it while the run goes.
/// Cloned for the checkpoint writer thread ([`super::writer`]), which only
/// replaces the checkpoint and appends to its journal.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) path: PathBuf,
    pub(crate) temp: PathBuf,
    /// `<name>.partial.h5`: see [`super::checkpoint`].
    pub(crate) partial: PathBuf,
    /// Where each checkpoint is written before it replaces `partial`
    /// (`.<name>.partial.h5.tmp`); `temp` stays claimed meanwhile.
    pub(crate) partial_temp: PathBuf,
    /// `<name>.partial.h5.journal`: see [`super::journal`].
    pub(crate) journal: PathBuf,
    force: bool,
}

/// Why a results file cannot be claimed, checkpointed or published.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    #[error("--output {} does not name a file", .path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is a directory", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("{} already exists; pass --force to overwrite it or choose another --output", .path.display())]
    Exists { path: PathBuf },
    #[error("{} is a symbolic link; not replacing it", .path.display())]
    Symlink { path: PathBuf },
    #[error("{} is not a regular file; not replacing it", .path.display())]
    NotRegular { path: PathBuf },
    #[error("cannot use --output {}: {source}", .path.display())]
    Unusable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--output {} is not valid UTF-8, which HDF5 needs", .path.display())]
    NotUtf8 { path: PathBuf },
    #[error("cannot create the output directory {}: {source}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// Another run holds the temporary name.
    #[error(
        "{} exists: another mcpi run is writing {} (or one crashed: remove the file)",
        .temp.display(), .path.display()
    )]
    Taken { path: PathBuf, temp: PathBuf },
    #[error(
        "--output {}: the name is too long for mcpi's temporary file {} ({source})",
        .path.display(), .temp.display()
    )]
    NameTooLong {
        path: PathBuf,
        temp: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write to the output directory {}: {source}", .dir.display())]
    DirNotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no free name for {stem}.h5 in {}", .dir.display())]
    NoFreeName { stem: String, dir: PathBuf },
    #[error(
        "{} holds an interrupted run of {}: finish it with `mcpi --resume {}` or remove it",
        .partial.display(), .path.display(), .partial.display()
    )]
    Interrupted { path: PathBuf, partial: PathBuf },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} appeared while mcpi ran; not overwriting it. The results are in {}",
        .path.display(), .temp.display()
    )]
    Appeared { path: PathBuf, temp: PathBuf },
}

/// Claims the default name in `dir` (normally [`RESULTS_DIR`]),
/// `mcpi-<mode>-<N>r-<yyyymmddThhmmssZ>[-j<slurm_job>].h5` (the Slurm job's
/// tag, `<array job>_<task>` for an array task), or, if a result
/// or a concurrent run already has it, the first free one of `…-2.h5`,
/// `…-3.h5`, …: a default name never overwrites anything. In the job id,
/// anything but ASCII letters, digits, `_` and `-` becomes `_`, so the name
/// stays one file in `dir` whatever the environment holds.
pub(crate) fn reserve_default(
    dir: &Path,
    mode: &str,
    ranks: u32,
    now: UtcTime,
    slurm_job: Option<&str>,
) -> Result<Target, OutputError> {
    let job = match slurm_job {
        Some(id) if !id.is_empty() => {
            let safe = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            let id: String = id.chars().map(|c| if safe(c) { c } else { '_' }).collect();
            format!("-j{id}")
        }
        _ => String::new(),
    };
    let stem = format!("mcpi-{mode}-{ranks}r-{}{job}", now.compact());
    for n in 1..=1000 {
        let name = match n {
            1 => format!("{stem}.h5"),
            n => format!("{stem}-{n}.h5"),
        };
        let path = dir.join(name);
        if fs::symlink_metadata(&path).is_ok() || fs::symlink_metadata(partial_path(&path)).is_ok()
        {
            continue;
        }
        match reserve(&path, false) {
            Err(OutputError::Taken { .. }) => continue,
            claimed => return claimed,
        }
    }
    let dir = dir.to_path_buf();
    Err(OutputError::NoFreeName { stem, dir })
}

/// Checks that `path` can take a result and claims its temporary file. The
/// path must name a file; if it exists, it is refused unless `force`, and
/// even then only a regular file is replaced. Missing directories are
/// created, but only once every other check has passed.
pub(crate) fn reserve(path: &Path, force: bool) -> Result<Target, OutputError> {
    let owned = || path.to_path_buf();
    let name = match last_component(path) {
        Some(name) => name,
        None => return Err(OutputError::NotAFile { path: owned() }),
    };
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(OutputError::IsDirectory { path: owned() }),
        Ok(_) if !force => return Err(OutputError::Exists { path: owned() }),
        Ok(meta) if meta.is_symlink() => return Err(OutputError::Symlink { path: owned() }),
        Ok(meta) if !meta.is_file() => return Err(OutputError::NotRegular { path: owned() }),
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            let path = owned();
            return Err(OutputError::Unusable { path, source });
        }
    }
    let dir = parent_dir(path);
    let temp = temp_path(path, name);
    if temp.to_str().is_none() {
        return Err(OutputError::NotUtf8 { path: owned() });
    }
    if let Err(source) = fs::create_dir_all(dir) {
        let dir = dir.to_path_buf();
        return Err(OutputError::CreateDir { dir, source });
    }
    match fs::File::create_new(&temp) {
        Ok(_) => {
            let partial = partial_path(path);
            let partial_name = partial.file_name().expect("a file name");
            Ok(Target {
                path: path.to_path_buf(),
                temp,
                partial_temp: temp_path(&partial, partial_name),
                journal: journal::path_of(&partial),
                partial,
                force,
            })
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(OutputError::Taken {
            path: owned(),
            temp,
        }),
        Err(source) if source.kind() == ErrorKind::InvalidFilename => {
            Err(OutputError::NameTooLong {
                path: owned(),
                temp,
                source,
            })
        }
        Err(source) => {
            let dir = dir.to_path_buf();
            Err(OutputError::DirNotWritable { dir, source })
        }
    }
}

/// [`reserve`] for a new run: also refuses a path whose checkpoint holds an
/// interrupted run (`--resume` completes that one instead).
pub(crate) fn reserve_new(path: &Path, force: bool) -> Result<Target, OutputError> {
    let target = reserve(path, force)?;
    if !target.partial.exists() {
        return Ok(target);
    }
    target.abandon();
    Err(OutputError::Interrupted {
        path: target.path.clone(),
        partial: target.partial.clone(),
    })
}

/// [`reserve`] for a path whose temporary file a crashed run left behind:
/// removes that file first. Only for a claim known to be stale.
pub(crate) fn take_over(path: &Path, force: bool) -> Result<Target, OutputError> {
    if let Some(name) = last_component(path) {
        let _ = fs::remove_file(temp_path(path, name));
    }
    let target = reserve(path, force)?;
    let _ = fs::remove_file(&target.partial_temp);
    Ok(target)
}

/// The hidden temporary file beside `path`, whose last component is `name`.
fn temp_path(path: &Path, name: &std::ffi::OsStr) -> PathBuf {
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(".tmp");
    parent_dir(path).join(temp_name)
}

impl Target {
    /// Makes the written `partial_temp` the checkpoint, atomically replacing
    /// the previous one, and flushes the directory entry.
    pub(crate) fn checkpoint(&self) -> Result<(), OutputError> {
        fs::rename(&self.partial_temp, &self.partial)
            .and_then(|()| sync_dir(&self.partial))
            .map_err(|source| OutputError::Write {
                path: self.partial.clone(),
                source,
            })
    }

    /// Moves the finished temporary file to the final path atomically and
    /// removes the checkpoint and its journal. Without `--force`, if something else created
    /// the final path meanwhile, it is left alone and the results stay in the
    /// temporary file.
    pub(crate) fn publish(&self) -> Result<(), OutputError> {
        let result = if self.force {
            fs::rename(&self.temp, &self.path)
        } else {
            // link(2) refuses to replace an existing name, unlike rename(2).
            fs::hard_link(&self.temp, &self.path).and_then(|()| fs::remove_file(&self.temp))
        };
        let remove = |path| match fs::remove_file(path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        let result = result
            .and_then(|()| remove(&self.journal))
            .and_then(|()| remove(&self.partial))
            .and_then(|()| sync_dir(&self.path));
        result.map_err(|source| match source.kind() {
            ErrorKind::AlreadyExists => OutputError::Appeared {
                path: self.path.clone(),
                temp: self.temp.clone(),
            },
            _ => {
                self.abandon();
                let path = self.path.clone();
                OutputError::Write { path, source }
            }
        })
    }

    /// Gives the claim up: removes the temporary files.
    pub(crate) fn abandon(&self) {
        let _ = fs::remove_file(&self.temp);
        let _ = fs::remove_file(&self.partial_temp);
    }
}

/// The last component of `path` as written, if it is a file name (not empty,
/// `.` or `..`: `out/`, `out/.` and `out/..` name directories).
fn last_component(path: &Path) -> Option<&std::ffi::OsStr> {
    let bytes = path.as_os_str().as_encoded_bytes();
    let last = bytes.rsplit(|&b| b == b'/').next()?;
    match last {
        b"" | b"." | b".." => None,
        _ => path.file_name(),
    }
}

/// Flushes the directory holding `path`, so a rename in it is durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    fs::File::open(parent_dir(path))?.sync_all()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mcpi-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn refused(path: &Path, force: bool) -> OutputError {
        reserve(path, force).unwrap_err()
    }

    #[test]
    fn default_names_carry_mode_ranks_time_and_job_and_never_collide() {
        let dir = scratch("default").join(RESULTS_DIR);
        let t = UtcTime::from_unix(1_795_915_525);
        let a = reserve_default(&dir, "balanced", 4, t, None).unwrap();
        assert_eq!(a.path, dir.join("mcpi-balanced-4r-20261129T012525Z.h5"));
        // A concurrent run (holding the temporary file) pushes the next one on.
        let b = reserve_default(&dir, "balanced", 4, t, None).unwrap();
        assert_eq!(b.path, dir.join("mcpi-balanced-4r-20261129T012525Z-2.h5"));
        let c = reserve_default(&dir, "direct", 3, t, Some("77")).unwrap();
        assert_eq!(c.path, dir.join("mcpi-direct-3r-20261129T012525Z-j77.h5"));
        // Whatever SLURM_JOB_ID holds, the name stays one file in `dir`.
        let d = reserve_default(&dir, "direct", 3, t, Some("../../x y")).unwrap();
        assert_eq!(
            d.path,
            dir.join("mcpi-direct-3r-20261129T012525Z-j______x_y.h5")
        );
        let e = reserve_default(&dir, "direct", 3, t, Some("")).unwrap();
        assert_eq!(e.path, dir.join("mcpi-direct-3r-20261129T012525Z.h5"));
    }

    #[test]
    fn existing_files_are_refused_without_force_and_odd_ones_even_with_it() {
        let dir = scratch("exists");
        let path = dir.join("r.h5");
        fs::write(&path, "keep").unwrap();
        assert!(matches!(refused(&path, false), OutputError::Exists { .. }));
        assert!(matches!(
            refused(&dir, true),
            OutputError::IsDirectory { .. }
        ));
        std::os::unix::fs::symlink(&path, dir.join("link.h5")).unwrap();
        let link = refused(&dir.join("link.h5"), true);
        assert!(matches!(link, OutputError::Symlink { .. }));
        let device = refused(Path::new("/dev/null"), true);
        assert!(matches!(device, OutputError::NotRegular { .. }));
        assert_eq!(
            device.to_string(),
            "/dev/null is not a regular file; not replacing it"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep");
        let target = reserve(&path, true).unwrap();
        target.abandon();
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "only r.h5 and link.h5"
        );
    }

    #[test]
    fn paths_must_name_files_and_are_checked_before_anything_is_created() {
        let dir = scratch("names");
        fs::write(dir.join("file"), "").unwrap();
        for path in [dir.join("new/"), dir.join("new/."), dir.join("new/..")] {
            let err = refused(&path, true);
            assert!(matches!(err, OutputError::NotAFile { .. }), "{err}");
        }
        let err = refused(&dir.join("file/r.h5"), true);
        assert!(matches!(err, OutputError::Unusable { .. }), "{err}");
        assert!(
            !dir.join("new").exists(),
            "a refused path created a directory"
        );
        // The final name fits in 255 bytes, `.<name>.tmp` does not.
        let long = dir.join(format!("{}.h5", "a".repeat(250)));
        let err = refused(&long, false);
        assert!(matches!(err, OutputError::NameTooLong { .. }), "{err}");
        let target = reserve(&dir.join("a/b/r.h5"), false).unwrap();
        assert!(target.temp.is_file() && dir.join("a/b").is_dir());
    }

    #[test]
    fn a_second_claim_on_the_same_path_is_refused() {
        let dir = scratch("claims");
        let path = dir.join("r.h5");
        let first = reserve(&path, false).unwrap();
        assert!(matches!(
            reserve(&path, false),
            Err(OutputError::Taken { .. })
        ));
        first.abandon();
        assert!(reserve(&path, false).is_ok());
    }

    #[test]
    fn publish_never_clobbers_without_force_and_keeps_the_results() {
        let dir = scratch("publish");
        let path = dir.join("r.h5");
        let target = reserve(&path, false).unwrap();
        fs::write(&target.temp, "new").unwrap();
        target.publish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert!(!target.temp.exists());

        let other = dir.join("s.h5");
        let target = reserve(&other, false).unwrap();
        fs::write(&other, "someone else's").unwrap();
        fs::write(&target.temp, "ours").unwrap();
        let err = target.publish().unwrap_err();
        match err {
            OutputError::Appeared { path, temp } => {
                assert_eq!((path, &temp), (other.clone(), &target.temp));
                assert!(temp.ends_with(".s.h5.tmp"));
            }
            err => panic!("{err}"),
        }
        assert_eq!(fs::read_to_string(&other).unwrap(), "someone else's");
        assert_eq!(fs::read_to_string(&target.temp).unwrap(), "ours");

        let target = reserve(&path, true).unwrap();
        fs::write(&target.temp, "newer").unwrap();
        target.publish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "newer");
    }

    #[test]
    fn checkpoints_replace_each_other_and_go_when_the_result_is_published() {
        let dir = scratch("checkpoint");
        let path = dir.join("r.h5");
        let target = reserve(&path, false).unwrap();
        assert_eq!(target.partial, dir.join("r.partial.h5"));
        assert_eq!(target.partial_temp, dir.join(".r.partial.h5.tmp"));
        for content in ["first", "second"] {
            fs::write(&target.partial_temp, content).unwrap();
            target.checkpoint().unwrap();
            assert_eq!(fs::read_to_string(&target.partial).unwrap(), content);
            assert!(target.temp.exists(), "still claimed");
        }
        // A default name is never one whose checkpoint exists.
        let t = UtcTime::from_unix(0);
        fs::write(dir.join("mcpi-direct-2r-19700101T000000Z.partial.h5"), "").unwrap();
        let next = reserve_default(&dir, "direct", 2, t, None).unwrap();
        assert!(next.path.ends_with("mcpi-direct-2r-19700101T000000Z-2.h5"));
        assert_eq!(target.journal, dir.join("r.partial.h5.journal"));
        fs::write(&target.journal, "journal").unwrap();
        fs::write(&target.temp, "final").unwrap();
        target.publish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "final");
        assert!(!target.partial.exists() && !target.temp.exists());
        assert!(!target.journal.exists());
        assert!(!target.partial_temp.exists());
    }

    #[test]
    fn a_new_run_is_refused_where_an_interrupted_one_waits() {
        let dir = scratch("new");
        let path = dir.join("r.h5");
        fs::write(dir.join("r.partial.h5"), "interrupted").unwrap();
        let err = reserve_new(&path, true).unwrap_err();
        assert!(matches!(err, OutputError::Interrupted { .. }), "{err}");
        assert!(!dir.join(".r.h5.tmp").exists(), "the claim is given up");
        fs::remove_file(dir.join("r.partial.h5")).unwrap();
        assert!(reserve_new(&path, false).is_ok());
    }
}
