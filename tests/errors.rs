//! Bad input: one message from rank 0, a non-zero exit, no hang, no file.

mod common;

use common::{mcpi_in, scratch};
use std::collections::BTreeSet;
use std::path::Path;

fn listing(dir: &Path) -> BTreeSet<String> {
    walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Arguments, environment, and a phrase the error message must contain.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn bad_input_gets_one_message_a_failure_status_and_leaves_no_file() {
    let dir = scratch("errors");
    std::fs::write(dir.join("existing.h5"), "precious").unwrap();
    std::fs::write(dir.join("a-file"), "").unwrap();
    std::fs::create_dir(dir.join("a-dir")).unwrap();
    std::os::unix::fs::symlink("existing.h5", dir.join("link.h5")).unwrap();
    let cases: &[Case] = &[
        (&["--samples", "0"], &[], "zero"),
        (&["--samples", "-5"], &[], "negative"),
        (&["--samples", "1.5"], &[], "whole number"),
        (&["--samples", "1e99"], &[], "too large"),
        (&["--samples", "lots"], &[], "not a count"),
        (&["--chunks", "0"], &[], "zero"),
        (
            &["--samples", "10", "--chunks", "11"],
            &[],
            "more than --samples",
        ),
        (&["--targets", "5"], &[], "engine 5 does not exist"),
        (&["--targets", ""], &[], "empty"),
        (&["--targets", "::0"], &[], "step cannot be zero"),
        (&["--targets", "0,0"], &[], "twice"),
        (&["--targets", "3:"], &[], "selects no engine"),
        (&["--mode", "fast"], &[], "invalid value"),
        (&["--seed", "x"], &[], "invalid value"),
        (&["--bogus"], &[], "unexpected argument"),
        (&["-o", "existing.h5"], &[], "already exists"),
        (&["-o", "a-file/out.h5"], &[], "Not a directory"),
        (&["-o", "a-dir"], &[], "is a directory"),
        (&["-o", "new-dir/"], &[], "does not name a file"),
        (&["-o", "new-dir/.."], &[], "does not name a file"),
        (&["-o", "/dev/null", "--force"], &[], "not a regular file"),
        (&["-o", "link.h5", "--force"], &[], "symbolic link"),
        (&["-o", "a-file/sub/out.h5"], &[], "Not a directory"),
        (
            &["-o", "/proc/mcpi.h5"],
            &[],
            "cannot write to the output directory",
        ),
        (&[], &[("MCPI_KERNEL", "bogus")], "not a kernel"),
    ];
    for ranks in [3, 1] {
        for (args, env, reason) in cases {
            let before = listing(&dir);
            let run = mcpi_in(&dir, ranks, args, env);
            let what = format!("{args:?} {env:?} on {ranks} ranks");
            assert_ne!(run.status, Some(0), "{what} succeeded");
            assert!(run.status.is_some(), "{what} died from a signal");
            assert_eq!(
                run.error_lines().len(),
                1,
                "{what}: one message, got:\n{}",
                run.stderr
            );
            if !common::is_open_mpi() {
                // (Open MPI's mpirun adds its own banner about the exit status.)
                assert_eq!(
                    run.stderr.lines().count(),
                    1,
                    "{what}: one line:\n{}",
                    run.stderr
                );
            }
            assert!(
                run.stderr.contains(reason),
                "{what}: wanted '{reason}' in:\n{}",
                run.stderr
            );
            assert!(
                !run.stderr.contains("backtrace") && !run.stderr.contains("Abort"),
                "{what}"
            );
            assert_eq!(run.stdout, "", "{what}");
            assert_eq!(listing(&dir), before, "{what} created or removed files");
            assert_eq!(
                std::fs::read_to_string(dir.join("existing.h5")).unwrap(),
                "precious"
            );
        }
    }
}

#[test]
fn help_and_version_print_once_and_succeed() {
    let dir = scratch("help");
    let help = mcpi_in(&dir, 3, &["--help"], &[]);
    help.ok();
    assert_eq!(
        help.stdout.matches("Usage: mcpi").count(),
        1,
        "{}",
        help.stdout
    );
    for needle in [
        "--targets",
        ":-1",
        "mpirun -n 4 mcpi",
        "serial baseline",
        "MCPI_KERNEL",
    ] {
        assert!(help.stdout.contains(needle), "--help lacks {needle}");
    }
    let version = mcpi_in(&dir, 3, &["--version"], &[]);
    assert_eq!(
        version.ok().stdout.trim(),
        format!("mcpi {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(listing(&dir).is_empty());
}

#[test]
fn an_srun_step_whose_ranks_each_run_alone_is_refused() {
    // What `srun -n 4` looks like to each task when the MPI library does not
    // speak srun's --mpi plugin: Slurm says 4 tasks, MPI says 1 rank.
    let dir = scratch("singletons");
    let step = [("SLURM_JOB_ID", "5"), ("SLURM_STEP_NUM_TASKS", "4")];
    for ranks in [0, 1] {
        let run = mcpi_in(&dir, ranks, &["-n", "1e5"], &step);
        assert_eq!(run.status, Some(2), "{ranks} ranks: {}", run.stderr);
        assert_eq!(run.error_lines().len(), 1, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("mcpi: error: srun started 4 tasks but MPI sees 1 rank"),
            "{}",
            run.stderr
        );
        assert!(listing(&dir).is_empty(), "nothing is written");
    }
    // With a working plugin the ranks see each other, and the run goes ahead.
    let run = mcpi_in(&dir, 2, &["-n", "1e5", "-q", "-o", "r.h5"], &step);
    assert_eq!(run.status, Some(0), "{}", run.stderr);
}
