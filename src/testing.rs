//! What the unit tests share: a fresh scratch directory of their own.

use std::path::PathBuf;

/// An empty directory `mcpi-<kind>-<name>-<pid>` under the system's
/// temporary directory, emptied first if an earlier run left it.
pub(crate) fn scratch(kind: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpi-{kind}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
