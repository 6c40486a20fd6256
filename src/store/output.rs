//! Where results go, and how they get there without ever clobbering one.
//!
//! Every check runs on rank 0 before any work starts. [`reserve`] validates
//! the path, holds its directory open and takes the output's claim (see
//! [`super::claim`]); the results are written to a hidden temporary file
//! beside it (`.<name>.tmp`) and [`Target::publish`] moves them into place in
//! one step, so a reader never sees half a file and an existing result is
//! only replaced with `--force`.
//!
//! Beside `<name>` a run keeps `.<name>.tmp`, and, for its checkpoint
//! `<stem>.partial.h5` (see [`partial_path`]), `.<stem>.partial.h5.tmp` and
//! the claim `.<stem>.partial.h5.lock`. Every one of these ends in a suffix
//! that `--output` refuses ([`RESERVED`]), so no run's files are another
//! run's results; and two outputs that share a checkpoint name (`x` and
//! `x.h5`) share its claim, so they never run at once.

use super::checkpoint::partial_path;
use super::claim::{self, Claim, ClaimError, HeldDir};
use super::h5::{self, H5Error};
use super::journal;
use super::StoreError;
use crate::record::RunRecord;
use crate::sys::clock::UtcTime;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Directory of the default output paths.
pub(crate) const RESULTS_DIR: &str = "results";

/// Endings of the files mcpi keeps beside the results, which `--output`
/// therefore refuses, with what each is.
pub(crate) const RESERVED: [(&str, &str); 4] = [
    (".partial.h5", "checkpoints"),
    (".tmp", "temporary files"),
    (".lock", "claims"),
    (".journal", "checkpoint journals"),
];

/// The longest a Slurm job id may make a default name: enough for any real
/// id (`<array job>_<task>`), short enough for every name derived from it.
const JOB_TAG_MAX: usize = 64;

/// A claimed output. `path`, `temp`, `partial`, `partial_temp` and
/// `journal` are the paths to read and write, through the held directory;
/// [`Target::shown`] gives each one's name for messages. Cloned for the
/// checkpoint writer thread ([`super::writer`]), which only replaces the
/// checkpoint and appends to its journal; the claim goes with the last clone.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) path: PathBuf,
    pub(crate) temp: PathBuf,
    /// `<name>.partial.h5`: see [`super::checkpoint`].
    pub(crate) partial: PathBuf,
    /// Where each checkpoint is written before it replaces `partial`
    /// (`.<name>.partial.h5.tmp`).
    pub(crate) partial_temp: PathBuf,
    /// `<name>.partial.h5.journal`: see [`super::journal`].
    pub(crate) journal: PathBuf,
    dir: Arc<HeldDir>,
    /// Taken by [`reserve`]; held, never read, and given up when the last
    /// clone is dropped.
    _claim: Arc<Claim>,
    force: bool,
}

/// Why a results file cannot be claimed, checkpointed or published.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OutputError {
    #[error("--output {} does not name a file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "--output {} ends in {suffix}, which mcpi keeps for its {what} beside the results; choose another name",
        .path.display()
    )]
    Reserved {
        path: PathBuf,
        suffix: &'static str,
        what: &'static str,
    },
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
    /// Another live run holds the claim.
    #[error(
        "another mcpi run is writing {} ({owner}); its claim is {}",
        .path.display(), .lock.display()
    )]
    Taken {
        path: PathBuf,
        lock: PathBuf,
        owner: String,
    },
    #[error(
        "--output {}: the name is too long for mcpi's files beside it, such as {} ({source})",
        .path.display(), .longest.display()
    )]
    NameTooLong {
        path: PathBuf,
        longest: PathBuf,
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
        "{} holds an interrupted run: finish it with `mcpi --resume {}` or remove it",
        .partial.display(), .partial.display()
    )]
    Interrupted { partial: PathBuf },
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
    #[error("cannot write {}: the output directory {} was removed while mcpi ran", .path.display(), .dir.display())]
    DirRemoved { path: PathBuf, dir: PathBuf },
}

/// Claims the default name in `dir` (normally [`RESULTS_DIR`]),
/// `mcpi-<mode>-<N>r-<yyyymmddThhmmssZ>[-j<slurm_job>].h5` (the Slurm job's
/// tag, `<array job>_<task>` for an array task), or, if a result
/// or a concurrent run already has it, the first free one of `…-2.h5`,
/// `…-3.h5`, …: a default name never overwrites anything. In the job id,
/// anything but ASCII letters, digits, `_` and `-` becomes `_`, and it is cut
/// at [`JOB_TAG_MAX`] characters, so the name stays one file in `dir`
/// whatever the environment holds.
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
            let id = id.chars().take(JOB_TAG_MAX);
            let id: String = id.map(|c| if safe(c) { c } else { '_' }).collect();
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

/// Checks that `path` can take a result, holds its directory and takes its
/// claim. The path must name a file and not end like mcpi's own files; if it
/// exists, it is refused unless `force`, and even then only a regular file
/// is replaced. Missing directories are created, but only once every other
/// check has passed. A temporary file that a crashed run left is replaced.
pub(crate) fn reserve(path: &Path, force: bool) -> Result<Target, OutputError> {
    let owned = || path.to_path_buf();
    let name = match last_component(path) {
        Some(name) => name,
        None => return Err(OutputError::NotAFile { path: owned() }),
    };
    let bytes = name.as_encoded_bytes();
    if let Some(&(suffix, what)) = RESERVED.iter().find(|(s, _)| bytes.ends_with(s.as_bytes())) {
        let path = owned();
        return Err(OutputError::Reserved { path, suffix, what });
    }
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
    let names = Names::of(name);
    if path.with_file_name(&names.temp).to_str().is_none() {
        return Err(OutputError::NotUtf8 { path: owned() });
    }
    let dir = parent_dir(path);
    if let Err(source) = fs::create_dir_all(dir) {
        let dir = dir.to_path_buf();
        return Err(OutputError::CreateDir { dir, source });
    }
    let unwritable = |source: std::io::Error| match source.kind() {
        ErrorKind::InvalidFilename => OutputError::NameTooLong {
            path: owned(),
            longest: dir.join(&names.lock),
            source,
        },
        _ => OutputError::DirNotWritable {
            dir: dir.to_path_buf(),
            source,
        },
    };
    let given = path.parent().unwrap_or(Path::new(""));
    let held = HeldDir::open(dir, given).map_err(|source| OutputError::Unusable {
        path: owned(),
        source,
    })?;
    let held = Arc::new(held);
    let claim = match claim::take(&held, &names.lock) {
        Ok(claim) => claim,
        Err(ClaimError::Held { owner }) => {
            let lock = held.shown(&names.lock);
            return Err(OutputError::Taken {
                path: owned(),
                lock,
                owner,
            });
        }
        Err(ClaimError::Io(source)) => return Err(unwritable(source)),
    };
    // The claim is ours, so a temporary file here is a crashed run's.
    let temp = held.io(&names.temp);
    let _ = fs::remove_file(&temp);
    if let Err(source) = fs::File::create_new(&temp) {
        drop(claim);
        return Err(unwritable(source));
    }
    Ok(Target {
        path: held.io(name),
        temp,
        partial: held.io(&names.partial),
        partial_temp: held.io(&names.partial_temp),
        journal: held.io(&names.journal),
        dir: held,
        _claim: Arc::new(claim),
        force,
    })
}

/// [`reserve`] for a new run: also refuses a path whose checkpoint holds an
/// interrupted run (`--resume` completes that one instead).
pub(crate) fn reserve_new(path: &Path, force: bool) -> Result<Target, OutputError> {
    let target = reserve(path, force)?;
    if !target.partial.exists() {
        return Ok(target);
    }
    let err = OutputError::Interrupted {
        partial: target.shown(&target.partial),
    };
    target.abandon();
    Err(err)
}

/// The names of a run's files in its directory.
struct Names {
    temp: OsString,
    partial: OsString,
    partial_temp: OsString,
    journal: OsString,
    lock: OsString,
}

impl Names {
    fn of(name: &OsStr) -> Names {
        let partial = partial_path(Path::new(name)).into_os_string();
        let hidden = |name: &OsStr, suffix: &str| {
            let mut hidden = OsString::from(".");
            hidden.push(name);
            hidden.push(suffix);
            hidden
        };
        Names {
            temp: hidden(name, ".tmp"),
            partial_temp: hidden(&partial, ".tmp"),
            lock: hidden(&partial, ".lock"),
            journal: journal::path_of(Path::new(&partial)).into_os_string(),
            partial,
        }
    }
}

impl Target {
    /// Where the file at `io` (one of this target's paths) is now, for
    /// messages: in the directory as it was named, or where it was moved.
    pub(crate) fn shown(&self, io: &Path) -> PathBuf {
        self.dir.shown(io.file_name().unwrap_or_default())
    }

    /// Writes `record` as HDF5 to `io`, the temporary file of `into` (both
    /// this target's paths); an error names the file where the user sees
    /// it, or says that its directory is gone.
    pub(crate) fn write_h5(
        &self,
        record: &RunRecord,
        io: &Path,
        into: &Path,
    ) -> Result<(), StoreError> {
        h5::write(record, io).map_err(|e| match self.dir.is_removed() {
            true => self
                .write_error(into, std::io::ErrorKind::NotFound.into())
                .into(),
            false => e.shown_as(self.shown(io)).into(),
        })
    }

    /// Checks that HDF5 can create the temporary results file.
    pub(crate) fn probe(&self) -> Result<(), H5Error> {
        h5::probe(&self.temp).map_err(|e| e.shown_as(self.shown(&self.temp)))
    }

    /// The error for a failed write of `io`: the directory is gone, or the
    /// write's own cause.
    fn write_error(&self, io: &Path, source: std::io::Error) -> OutputError {
        let path = self.shown(io);
        match self.dir.is_removed() {
            true => OutputError::DirRemoved {
                path,
                dir: self.dir.given().to_path_buf(),
            },
            false => OutputError::Write { path, source },
        }
    }

    /// Whether the checkpoint exists (it survives an interrupted run unless
    /// its directory was removed).
    pub(crate) fn checkpoint_kept(&self) -> bool {
        self.partial.exists()
    }

    /// Makes the written `partial_temp` the checkpoint, atomically replacing
    /// the previous one, and flushes the directory entry.
    pub(crate) fn checkpoint(&self) -> Result<(), OutputError> {
        fs::rename(&self.partial_temp, &self.partial)
            .and_then(|()| sync_dir(&self.partial))
            .map_err(|source| self.write_error(&self.partial, source))
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
                path: self.shown(&self.path),
                temp: self.shown(&self.temp),
            },
            _ => {
                let _ = fs::remove_file(&self.temp);
                self.write_error(&self.path, source)
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
fn last_component(path: &Path) -> Option<&OsStr> {
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
        crate::testing::scratch("output", name)
    }

    fn refused(path: &Path, force: bool) -> OutputError {
        reserve(path, force).unwrap_err()
    }

    /// Where the target's file at `io` is, as messages name it.
    fn at(target: &Target, io: &Path) -> PathBuf {
        target.shown(io)
    }

    #[test]
    fn default_names_carry_mode_ranks_time_and_job_and_never_collide() {
        let dir = scratch("default").join(RESULTS_DIR);
        let t = UtcTime::from_unix(1_795_915_525);
        let a = reserve_default(&dir, "balanced", 4, t, None).unwrap();
        assert_eq!(
            at(&a, &a.path),
            dir.join("mcpi-balanced-4r-20261129T012525Z.h5")
        );
        // A concurrent run (holding the temporary file) pushes the next one on.
        let b = reserve_default(&dir, "balanced", 4, t, None).unwrap();
        assert_eq!(
            at(&b, &b.path),
            dir.join("mcpi-balanced-4r-20261129T012525Z-2.h5")
        );
        let c = reserve_default(&dir, "direct", 3, t, Some("77")).unwrap();
        assert_eq!(
            at(&c, &c.path),
            dir.join("mcpi-direct-3r-20261129T012525Z-j77.h5")
        );
        // Whatever SLURM_JOB_ID holds, the name stays one file in `dir`.
        let d = reserve_default(&dir, "direct", 3, t, Some("../../x y")).unwrap();
        assert_eq!(
            at(&d, &d.path),
            dir.join("mcpi-direct-3r-20261129T012525Z-j______x_y.h5")
        );
        let e = reserve_default(&dir, "direct", 3, t, Some("")).unwrap();
        assert_eq!(
            at(&e, &e.path),
            dir.join("mcpi-direct-3r-20261129T012525Z.h5")
        );
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
        drop(target);
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
        drop(first);
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
        drop(target);

        let other = dir.join("s.h5");
        let target = reserve(&other, false).unwrap();
        fs::write(&other, "someone else's").unwrap();
        fs::write(&target.temp, "ours").unwrap();
        let err = target.publish().unwrap_err();
        match err {
            OutputError::Appeared { path, temp } => {
                assert_eq!((path, &temp), (other.clone(), &at(&target, &target.temp)));
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
        assert_eq!(at(&target, &target.partial), dir.join("r.partial.h5"));
        assert_eq!(
            at(&target, &target.partial_temp),
            dir.join(".r.partial.h5.tmp")
        );
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
        assert!(next
            .shown(&next.path)
            .ends_with("mcpi-direct-2r-19700101T000000Z-2.h5"));
        assert_eq!(
            at(&target, &target.journal),
            dir.join("r.partial.h5.journal")
        );
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

    #[test]
    fn names_ending_like_mcpis_own_files_are_refused_with_the_reason() {
        let dir = scratch("reserved");
        for name in [
            "x.partial.h5",
            ".x.h5.tmp",
            "x.tmp",
            ".x.partial.h5.lock",
            "x.partial.h5.journal",
        ] {
            let err = refused(&dir.join(name), true);
            assert!(matches!(err, OutputError::Reserved { .. }), "{name}: {err}");
        }
        assert_eq!(
            refused(Path::new("x.partial.h5"), false).to_string(),
            "--output x.partial.h5 ends in .partial.h5, which mcpi keeps for its checkpoints \
             beside the results; choose another name"
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0, "nothing created");
    }

    /// Every file a run keeps beside its results, by name.
    fn files_of(name: &str) -> Vec<OsString> {
        let n = Names::of(OsStr::new(name));
        vec![
            name.into(),
            n.temp,
            n.partial,
            n.partial_temp,
            n.lock,
            n.journal,
        ]
    }

    proptest::proptest! {
        /// Whatever two accepted names are, no file of one run is the other
        /// run's results, and runs whose files meet share one claim.
        #[test]
        fn no_two_outputs_touch_each_others_files(
            a in "[.]?(x|y)(\\.(h5|partial|tmp|lock|journal|hdf5)){0,3}",
            b in "[.]?(x|y)(\\.(h5|partial|tmp|lock|journal|hdf5)){0,3}",
        ) {
            let accepted = |name: &str| {
                !RESERVED.iter().any(|(suffix, _)| name.ends_with(suffix))
            };
            proptest::prop_assume!(a != b && accepted(&a) && accepted(&b));
            let (fa, fb) = (files_of(&a), files_of(&b));
            for f in &fa[1..] {
                proptest::prop_assert!(!accepted(&f.to_string_lossy()), "{:?} of {} is a legal output", f, a);
            }
            let shared = fa.iter().any(|f| fb.contains(f));
            proptest::prop_assert!(!shared || fa[4] == fb[4], "{} and {} share files but not a claim", a, b);
            proptest::prop_assert!(!fb.contains(&fa[0]) && !fb.contains(&fa[1]));
        }
    }

    #[test]
    fn outputs_that_share_a_checkpoint_name_share_its_claim() {
        let dir = scratch("shared");
        let first = reserve(&dir.join("x"), false).unwrap();
        let err = refused(&dir.join("x.h5"), false);
        match &err {
            OutputError::Taken { path, lock, owner } => {
                assert_eq!(path, &dir.join("x.h5"));
                assert_eq!(lock, &dir.join(".x.partial.h5.lock"));
                let me = format!("pid {} on ", std::process::id());
                assert!(owner.starts_with(&me), "{owner}");
            }
            err => panic!("{err}"),
        }
        assert!(err.to_string().starts_with("another mcpi run is writing "));
        drop(first);
        assert!(reserve(&dir.join("x.h5"), false).is_ok());
    }

    #[test]
    fn a_run_follows_its_directory_when_it_is_renamed() {
        let base = scratch("renamed");
        let target = reserve(&base.join("out/r.h5"), false).unwrap();
        fs::rename(base.join("out"), base.join("out2")).unwrap();
        fs::write(&target.partial_temp, "saved").unwrap();
        target.checkpoint().unwrap();
        let moved = base.join("out2").canonicalize().unwrap();
        assert_eq!(target.shown(&target.partial), moved.join("r.partial.h5"));
        fs::write(&target.temp, "results").unwrap();
        target.publish().unwrap();
        assert_eq!(fs::read_to_string(moved.join("r.h5")).unwrap(), "results");
        fs::remove_dir_all(moved).unwrap();
        let err = target.checkpoint().unwrap_err();
        assert!(matches!(err, OutputError::DirRemoved { .. }), "{err}");
        let dir = base.join("out").display().to_string();
        let removed = format!("the output directory {dir} was removed while mcpi ran");
        assert!(err.to_string().ends_with(&removed), "{err}");
    }
}
