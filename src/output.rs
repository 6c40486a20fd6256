//! Where results go, and how they get there without ever clobbering one.
//!
//! Every check runs on rank 0 before any work starts ([`preflight`]); the file
//! is then written under a temporary name in the same directory and moved into
//! place in one step ([`publish`]), so a reader never sees half a file and an
//! existing result is only replaced with `--force`.

use crate::clock::UtcTime;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Directory of the default output paths.
pub const RESULTS_DIR: &str = "results";

/// `results/mcpi-<mode>-<N>r-<yyyymmddThhmmssZ>[-j<SLURM_JOB_ID>].h5`.
///
/// If that name is taken (two runs in the same second), `-2`, `-3`, … is
/// appended: a default name never overwrites anything.
pub fn default_path(mode: &str, ranks: u32, now: UtcTime, slurm_job: Option<&str>) -> PathBuf {
    let job = slurm_job.map(|id| format!("-j{id}")).unwrap_or_default();
    let stem = format!("mcpi-{mode}-{ranks}r-{}{job}", now.compact());
    let dir = Path::new(RESULTS_DIR);
    let mut path = dir.join(format!("{stem}.h5"));
    let mut n = 2;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}.h5"));
        n += 1;
    }
    path
}

/// Checks, before any work, that `path` can be written: it must not exist
/// (unless `force`), and its directory must exist (it is created if missing)
/// and accept a new file.
pub fn preflight(path: &Path, force: bool) -> Result<(), String> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        return Err("--output is empty".into());
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => return Err(format!("{shown} is a directory")),
        Ok(_) if !force => {
            return Err(format!(
                "{shown} already exists; pass --force to overwrite it or choose another --output"
            ))
        }
        Ok(_) | Err(_) => {}
    }
    let dir = parent_dir(path);
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the output directory {}: {e}", dir.display()))?;
    let probe = temp_path(path);
    fs::File::create_new(&probe)
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "cannot write to the output directory {}: {e}",
                dir.display()
            )
        })
}

/// The temporary name a result is written under: hidden, next to `path`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    parent_dir(path).join(format!(".{name}.{}.tmp", std::process::id()))
}

/// Moves the finished temporary file to `path` atomically. Without `force`
/// this fails, leaving `path` untouched, if something appeared there meanwhile.
pub fn publish(temp: &Path, path: &Path, force: bool) -> Result<(), String> {
    let result = if force {
        fs::rename(temp, path)
    } else {
        // link(2) refuses to replace an existing name, unlike rename(2).
        fs::hard_link(temp, path).and_then(|()| fs::remove_file(temp))
    };
    result.map_err(|e| {
        let _ = fs::remove_file(temp);
        match e.kind() {
            ErrorKind::AlreadyExists => format!(
                "{} appeared while mcpi ran; not overwriting it (pass --force to)",
                path.display()
            ),
            _ => format!("cannot write {}: {e}", path.display()),
        }
    })
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

    #[test]
    fn default_names_carry_mode_ranks_time_and_job() {
        let t = UtcTime::from_unix(1_795_915_525);
        assert_eq!(
            default_path("balanced", 4, t, None),
            Path::new("results/mcpi-balanced-4r-20261129T012525Z.h5")
        );
        assert_eq!(
            default_path("direct", 3, t, Some("77")),
            Path::new("results/mcpi-direct-3r-20261129T012525Z-j77.h5")
        );
    }

    #[test]
    fn preflight_refuses_existing_files_without_force() {
        let dir = scratch("exists");
        let path = dir.join("r.h5");
        fs::write(&path, "keep").unwrap();
        assert!(preflight(&path, false)
            .unwrap_err()
            .contains("already exists"));
        assert!(preflight(&path, true).is_ok());
        assert!(preflight(&dir, true)
            .unwrap_err()
            .contains("is a directory"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "keep");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "probe left behind");
    }

    #[test]
    fn preflight_creates_missing_directories_and_rejects_impossible_ones() {
        let dir = scratch("mkdir");
        assert!(preflight(&dir.join("a/b/r.h5"), false).is_ok());
        assert!(dir.join("a/b").is_dir());
        fs::write(dir.join("file"), "").unwrap();
        let err = preflight(&dir.join("file/r.h5"), false).unwrap_err();
        assert!(err.contains("cannot create the output directory"), "{err}");
    }

    #[test]
    fn publish_never_clobbers_without_force() {
        let dir = scratch("publish");
        let path = dir.join("r.h5");
        let temp = temp_path(&path);
        fs::write(&temp, "new").unwrap();
        publish(&temp, &path, false).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert!(!temp.exists());

        fs::write(&temp, "newer").unwrap();
        assert!(publish(&temp, &path, false)
            .unwrap_err()
            .contains("appeared"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert!(!temp.exists());

        fs::write(&temp, "newer").unwrap();
        publish(&temp, &path, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "newer");
    }
}
