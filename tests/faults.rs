//! "What happens when…": one test per row of the fault table in docs/faults.md (input
//! and output faults). A refusal must give one `mcpi: error:` line from rank 0
//! only, a non-zero status, nothing on stdout, no hang (every run is bounded
//! by `common::TIMEOUT`), and leave the directory byte-identical: no file
//! created, clobbered or left behind. Refusals run under `mpirun -n 3` and
//! without mpirun.

mod common;

use common::edit::{chunks_of, copy_edited, set_attr, set_chunks};
use common::{command, is_open_mpi, launched_with, mcpi_in, scratch, wait, Run, SPAWN};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Exit status of bad input (as clap uses) and of a failed write.
const USAGE: i32 = 2;
const FAILURE: i32 = 1;

/// Inside counts of `-n 1e5` and `-n 1e8` with the default seed and chunks.
const INSIDE_1E5: u64 = 78_416;
const INSIDE_1E8: u64 = 78_539_258;

/// Every file and directory under `dir` with its contents (None for a
/// directory): equal listings mean nothing was created, removed or changed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(snapshot(&path));
            out.insert(path, None);
        } else if meta.is_file() {
            out.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
        } else {
            out.insert(path, Some(Vec::new()));
        }
    }
    out
}

/// Checks a refusal's invariants for one run.
fn check_refusal(row: &str, run: &Run, code: i32, reason: &str) {
    assert_eq!(
        run.status,
        Some(code),
        "{row}: status (a signal if None)\n{}",
        run.stderr
    );
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("mcpi: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{row}: one message, got:\n{}", run.stderr);
    assert!(
        errors[0].contains(reason),
        "{row}: wanted '{reason}' in {errors:?}"
    );
    // Open MPI's mpirun adds its own banner about the exit status (in words
    // that depend on how it is installed); MPICH's adds nothing. (`ready:`
    // and `progress` lines belong to runs that got as far as computing.)
    if !common::is_open_mpi() {
        let noise: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("mcpi: error: ") && !l.starts_with("progress "))
            .filter(|l| !l.starts_with("ready: "))
            .collect();
        assert!(
            noise.is_empty(),
            "{row}: more than the message:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("Abort"),
        "{row}:\n{}",
        run.stderr
    );
}

/// A refusal of `args` in `dir`, under mpirun with 3 ranks and without
/// mpirun: status `code`, one message containing `reason`, stdout empty,
/// `dir` unchanged.
fn refused_in(dir: &Path, args: &[&str], env: &[(&str, &str)], code: i32, reason: &str) {
    for ranks in [3, 0] {
        let row = format!("{args:?} {env:?} on {ranks} ranks");
        let before = snapshot(dir);
        let run = mcpi_in(dir, ranks, args, env);
        check_refusal(&row, &run, code, reason);
        assert_eq!(run.stdout, "", "{row}: stdout");
        assert!(
            snapshot(dir) == before,
            "{row}: files created, removed or changed"
        );
    }
}

/// [`refused_in`] for bad input, in a fresh directory named after the row.
fn refused(row: &str, args: &[&str], reason: &str) {
    refused_in(&scratch(row), args, &[], USAGE, reason);
}

fn inside_of(path: &Path) -> u64 {
    let file = hdf5::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.attr("inside").unwrap().read_scalar::<u64>().unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A file system mounted for one test, lazily unmounted when dropped (also
/// when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(target: &Path, options: &str) -> Mount {
        assert!(
            is_root(),
            "this row mounts a tmpfs: run the tests as root, as CI does"
        );
        std::fs::create_dir_all(target).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(target)
            .status()
            .expect("mount can be run");
        assert!(status.success(), "mount -o {options} {}", target.display());
        Mount(target.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until a write fails.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("filler")).unwrap();
    while file.write_all(&[0xA5; 4096]).is_ok() {}
    let _ = file.write_all(&[0xA5]);
    let _ = file.sync_all();
}

// ---------------------------------------------------------------------------
// Malformed and huge values of every option.

#[test]
fn samples_malformed() {
    for value in ["lots", "1e", "0x10", "1.2.3", "NaN", "inf", "1e8M"] {
        refused("samples-malformed", &["--samples", value], "is not a count");
    }
    refused("samples-malformed", &["--samples", ""], "expected a number");
}

#[test]
fn samples_negative_zero_or_fractional() {
    for (value, reason) in [
        ("-5", "negative"),
        ("-1e8", "negative"),
        ("0", "is zero"),
        ("0e5", "is zero"),
        ("1.5", "not a whole number"),
        ("1e-3", "not a whole number"),
    ] {
        refused("samples-sign", &["--samples", value], reason);
    }
}

#[test]
fn samples_huge() {
    for value in [
        "1e30",
        "18446744073709551616",
        "1e99999999999999999999",
        "20000000T",
    ] {
        refused("samples-huge", &["--samples", value], "too large");
    }
}

#[test]
fn chunks_malformed_negative_zero_or_huge() {
    for (value, reason) in [
        ("x", "is not a count"),
        ("-1", "negative"),
        ("0", "is zero"),
        ("1e30", "too large"),
        ("2e6", "more than the maximum of 1000000"),
    ] {
        refused("chunks-bad", &["--chunks", value], reason);
    }
}

#[test]
fn chunks_more_than_samples() {
    refused(
        "chunks-gt-samples",
        &["--samples", "10", "--chunks", "11"],
        "more than --samples",
    );
}

#[test]
fn seed_malformed_negative_or_huge() {
    for (value, reason) in [
        ("x", "not a whole number"),
        ("1e3", "not a whole number"),
        ("", "not a whole number"),
        ("NaN", "not a whole number"),
        ("-1", "negative"),
        ("18446744073709551616", "too large"),
        ("1e30", "not a whole number"),
    ] {
        refused("seed-bad", &["--seed", value], reason);
    }
}

#[test]
fn window_malformed_negative_or_out_of_range() {
    for (value, reason) in [
        ("abc", "not a whole number"),
        ("", "not a whole number"),
        ("1e30", "not a whole number"),
        ("-1", "negative"),
        ("0", "out of range"),
        ("65", "out of range"),
        ("99999999999999999999999999", "out of range"),
    ] {
        refused("window-bad", &["--window", value], reason);
    }
}

#[test]
fn targets_name_a_missing_engine() {
    // 3 ranks have engines 0 and 1; alone, rank 0 is engine 0.
    for value in ["5", "-9", "0,2"] {
        refused("targets-missing", &["--targets", value], "does not exist");
    }
}

#[test]
fn targets_malformed() {
    for (value, reason) in [
        ("", "empty"),
        ("a:b", "not an engine index"),
        ("99999999999999999999", "not an engine index"),
        ("1:2:3:4", "at most two ':'"),
        ("::0", "step cannot be zero"),
    ] {
        refused("targets-malformed", &["--targets", value], reason);
    }
}

#[test]
fn targets_select_an_engine_twice_or_none() {
    refused("targets-twice", &["--targets", "0,0"], "twice");
    refused("targets-none", &["--targets", "3:"], "selects no engine");
}

#[test]
fn slow_names_a_missing_engine_or_a_bad_factor() {
    // 3 ranks have engines 0 and 1; alone, rank 0 is engine 0.
    refused(
        "slow-missing",
        &["--slow", "2=3"],
        "engine 2 does not exist",
    );
    for (value, reason) in [
        ("0=0.5", "from 1 to 1000"),
        ("0=nan", "from 1 to 1000"),
        ("0=inf", "from 1 to 1000"),
        ("0=-3", "from 1 to 1000"),
        ("0=1e30", "from 1 to 1000"),
        ("0", "expected ENGINE=FACTOR"),
        ("x=2", "not an engine id"),
        ("0=2,0=3", "twice"),
    ] {
        refused("slow-bad", &["--slow", value], reason);
    }
}

#[test]
fn schedule_unknown_or_in_direct_mode() {
    refused("schedule", &["--schedule", "fair"], "invalid value 'fair'");
    refused(
        "schedule-direct",
        &["--mode", "direct", "--schedule", "guided"],
        "--schedule guided applies to balanced mode",
    );
}

#[test]
fn precision_malformed_zero_or_negative() {
    for value in ["0", "-1e-4", "nan", "inf", "tiny", ""] {
        refused(
            "precision",
            &["--precision", value],
            "is not a positive number",
        );
    }
}

#[test]
fn unknown_mode_or_progress() {
    refused("mode", &["--mode", "fast"], "invalid value 'fast'");
    refused("mode", &["--mode", ""], "a value is required");
    refused("progress", &["--progress", "sometimes"], "invalid value");
}

#[test]
fn unknown_option_stray_argument_or_repeated_option() {
    refused("options", &["--bogus"], "unexpected argument '--bogus'");
    refused("options", &["foo"], "unrecognized subcommand 'foo'");
    refused(
        "options",
        &["--samples", "1", "--samples", "2"],
        "cannot be used multiple times",
    );
}

#[test]
fn unknown_kernel_in_the_environment() {
    let dir = scratch("kernel");
    refused_in(
        &dir,
        &[],
        &[("MCPI_KERNEL", "avx9000")],
        USAGE,
        "not a kernel",
    );
}

#[test]
fn kernel_name_with_white_space_or_not_utf8() {
    let dir = scratch("kernel-bytes");
    // Surrounding white space (a stray newline from a script) is trimmed.
    let env = [("MCPI_KERNEL", " scalar\n")];
    let run = mcpi_in(&dir, 3, &["--json", "-n", "1e5", "-o", "r.h5"], &env).json();
    assert_eq!(run["kernel"], "scalar");
    // Inside, a control character is shown escaped: the message stays one line.
    refused_in(
        &dir,
        &[],
        &[("MCPI_KERNEL", "avx\n2")],
        USAGE,
        "MCPI_KERNEL=avx\\n2 is not a kernel",
    );
    use std::os::unix::ffi::OsStrExt;
    let bytes = std::ffi::OsStr::from_bytes(b"avx\xff");
    for ranks in [3, 0] {
        let mut cmd = command(&dir, ranks, &["-n", "1e5"], &[]);
        let run = wait(
            cmd.env("MCPI_KERNEL", bytes).spawn().expect(SPAWN),
            "MCPI_KERNEL",
        );
        check_refusal(
            "MCPI_KERNEL not UTF-8",
            &run,
            USAGE,
            "is not valid UTF-8, so it names no kernel",
        );
    }
}

#[test]
fn long_input_is_echoed_cut_to_one_short_line() {
    let digits = "1".repeat(20_000);
    for args in [["--targets", &digits], ["--samples", &digits]] {
        let dir = scratch("long-input");
        refused_in(&dir, &args, &[], USAGE, "1111…1111");
        let run = mcpi_in(&dir, 0, &args, &[]);
        assert!(
            run.stderr.len() < 400,
            "{} bytes: {}",
            run.stderr.len(),
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------
// Where the results go.

#[test]
fn output_exists_without_force() {
    let dir = scratch("exists");
    mcpi_in(&dir, 3, &["-q", "-n", "1e5", "-o", "r.h5"], &[]).ok();
    let before = std::fs::read(dir.join("r.h5")).unwrap();
    refused_in(
        &dir,
        &["-n", "1e5", "-o", "r.h5"],
        &[],
        USAGE,
        "already exists",
    );
    assert_eq!(std::fs::read(dir.join("r.h5")).unwrap(), before);
}

#[test]
fn output_exists_with_force_is_replaced() {
    let dir = scratch("force");
    std::fs::write(dir.join("r.h5"), "old").unwrap();
    mcpi_in(&dir, 3, &["-q", "-n", "1e5", "-o", "r.h5", "--force"], &[]).ok();
    assert_eq!(inside_of(&dir.join("r.h5")), INSIDE_1E5);
    assert_eq!(snapshot(&dir).len(), 1, "only r.h5");
}

#[test]
fn output_is_a_directory_or_names_none() {
    let dir = scratch("is-dir");
    std::fs::create_dir(dir.join("a-dir")).unwrap();
    refused_in(&dir, &["-o", "a-dir"], &[], USAGE, "is a directory");
    refused_in(
        &dir,
        &["-o", "a-dir", "--force"],
        &[],
        USAGE,
        "is a directory",
    );
    refused_in(
        &dir,
        &["-o", "new-dir/"],
        &[],
        USAGE,
        "does not name a file",
    );
    refused_in(
        &dir,
        &["-o", "new-dir/.."],
        &[],
        USAGE,
        "does not name a file",
    );
}

#[test]
fn output_is_a_symlink_or_a_device() {
    let dir = scratch("special");
    std::fs::write(dir.join("target.h5"), "precious").unwrap();
    std::os::unix::fs::symlink("target.h5", dir.join("link.h5")).unwrap();
    refused_in(
        &dir,
        &["-o", "link.h5", "--force"],
        &[],
        USAGE,
        "symbolic link",
    );
    refused_in(
        &dir,
        &["-o", "/dev/null", "--force"],
        &[],
        USAGE,
        "not a regular file",
    );
}

#[test]
fn output_under_a_file() {
    let dir = scratch("under-file");
    std::fs::write(dir.join("a-file"), "").unwrap();
    refused_in(&dir, &["-o", "a-file/r.h5"], &[], USAGE, "Not a directory");
    refused_in(
        &dir,
        &["-o", "a-file/sub/r.h5"],
        &[],
        USAGE,
        "Not a directory",
    );
}

#[test]
fn default_results_dir_is_a_file() {
    let dir = scratch("results-file");
    std::fs::write(dir.join("results"), "not a directory").unwrap();
    refused_in(&dir, &["-n", "1e5"], &[], USAGE, "Not a directory");
}

#[test]
fn output_in_a_missing_directory_creates_it() {
    let dir = scratch("missing-dir");
    mcpi_in(&dir, 3, &["-q", "-n", "1e5", "-o", "new/deeper/r.h5"], &[]).ok();
    assert_eq!(inside_of(&dir.join("new/deeper/r.h5")), INSIDE_1E5);
    assert_eq!(
        snapshot(&dir).len(),
        3,
        "new, new/deeper, the file; no temporary"
    );
}

#[test]
fn output_in_a_read_only_directory() {
    let dir = scratch("read-only");
    let ro = dir.join("ro");
    let _mount = Mount::tmpfs(&ro, "ro,size=64k");
    refused_in(
        &dir,
        &["-o", "ro/r.h5"],
        &[],
        USAGE,
        "Read-only file system",
    );
    refused_in(
        &dir,
        &["-o", "ro/sub/r.h5"],
        &[],
        USAGE,
        "cannot create the output directory",
    );
}

#[test]
fn output_on_a_file_system_that_refuses_files() {
    let dir = scratch("proc");
    refused_in(
        &dir,
        &["-o", "/proc/mcpi.h5"],
        &[],
        USAGE,
        "cannot write to the output directory /proc",
    );
}

#[test]
fn output_in_a_full_directory() {
    // Full before the run: HDF5 cannot create the file; refused up front.
    let dir = scratch("full-start");
    let full = dir.join("full");
    let _mount = Mount::tmpfs(&full, "size=64k");
    fill(&full);
    refused_in(
        &dir,
        &["-o", "full/r.h5"],
        &[],
        USAGE,
        "No space left on device",
    );
}

#[test]
fn output_directory_fills_up_during_the_final_write() {
    // 10⁵ chunk rows need ~5 MB: the probe fits in 1 MiB, the results don't.
    let dir = scratch("full-end");
    let full = dir.join("full");
    let _mount = Mount::tmpfs(&full, "size=1m");
    // No save before the end, however slow a loaded machine makes the run.
    let args = [
        "-q",
        "-n",
        "1e6",
        "-k",
        "1e5",
        "-o",
        "full/r.h5",
        "--checkpoint-every",
        "1e6",
    ];
    for ranks in [3, 0] {
        let run = mcpi_in(&dir, ranks, &args, &[]);
        let row = format!("full disk on {ranks} ranks");
        check_refusal(&row, &run, FAILURE, "No space left on device");
        assert!(run.stderr.contains("the last checkpoint is"), "{row}");
        only_the_checkpoint_is_left(&full.join("r.partial.h5"), &row);
    }
}

/// After a failed final write: no temporary file, no results file, only the
/// last checkpoint (here the first one, with no chunk yet: the runs save
/// nothing before the end), readable.
fn only_the_checkpoint_is_left(checkpoint: &Path, row: &str) {
    let dir = checkpoint.parent().unwrap();
    let left: Vec<PathBuf> = snapshot(dir).into_keys().collect();
    assert_eq!(left, [checkpoint.to_path_buf()], "{row}");
    let file = hdf5::File::open(checkpoint).unwrap();
    let done = file.attr("chunks_done").unwrap().read_scalar::<u64>();
    assert_eq!(done.unwrap(), 0, "{row}");
    std::fs::remove_file(checkpoint).unwrap();
}

#[test]
fn file_size_limit_smaller_than_the_results() {
    // ulimit -f 8 MiB (MPI's own shared-memory files need ~4 MiB); 3·10⁵
    // chunk rows need ~17 MB. SIGXFSZ must not kill rank 0.
    use std::os::unix::process::CommandExt;
    let dir = scratch("fsize");
    for ranks in [3, 0] {
        let mut cmd = command(
            &dir,
            ranks,
            &[
                "-q",
                "-n",
                "3e5",
                "-k",
                "3e5",
                "--mode",
                "direct",
                "-o",
                "r.h5",
                // No save before the end, however slow a loaded machine
                // makes the run.
                "--checkpoint-every",
                "1e6",
            ],
            &[],
        );
        // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 8 << 20,
                    rlim_max: 8 << 20,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let run = wait(cmd.spawn().expect(SPAWN), "mcpi under ulimit -f");
        let row = format!("ulimit -f on {ranks} ranks");
        check_refusal(&row, &run, FAILURE, "File too large");
        only_the_checkpoint_is_left(&dir.join("r.partial.h5"), &row);
    }
}

#[test]
fn output_name_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("utf8");
    let name = std::ffi::OsStr::from_bytes(b"r\xff.h5");
    for ranks in [3, 0] {
        let before = snapshot(&dir);
        let mut cmd = command(&dir, ranks, &["-o"], &[]);
        let run = wait(cmd.arg(name).spawn().expect(SPAWN), "non-UTF-8 --output");
        check_refusal("non-UTF-8 --output", &run, USAGE, "not valid UTF-8");
        assert!(snapshot(&dir) == before);
    }
}

#[test]
fn output_name_too_long_for_the_temporary_file() {
    let dir = scratch("long-name");
    let name = format!("{}.h5", "a".repeat(250));
    refused_in(&dir, &["-o", &name], &[], USAGE, "name is too long");
}

#[test]
fn output_name_need_not_end_in_h5() {
    let dir = scratch("any-name");
    mcpi_in(&dir, 3, &["-q", "-n", "1e5", "-o", "notes.txt"], &[]).ok();
    assert_eq!(inside_of(&dir.join("notes.txt")), INSIDE_1E5);
}

#[test]
fn files_left_by_a_crashed_run_are_taken_over() {
    let dir = scratch("stale-claim");
    // What a run killed before its first checkpoint leaves: its temporary
    // file and its claim, whose lock died with the process.
    std::fs::write(dir.join(".r.h5.tmp"), "crashed").unwrap();
    let claim = "pid 1 on elsewhere, started 2026-01-01T00:00:00Z, run 0123456789abcdef\n";
    std::fs::write(dir.join(".r.partial.h5.lock"), claim).unwrap();
    mcpi_in(&dir, 3, &["-q", "-n", "1e5", "-o", "r.h5"], &[]).ok();
    assert_eq!(inside_of(&dir.join("r.h5")), INSIDE_1E5);
    let files: Vec<PathBuf> = snapshot(&dir).into_keys().collect();
    assert_eq!(files, [dir.join("r.h5")], "only the results are left");
}

#[test]
fn output_named_like_mcpis_own_files() {
    for (name, what) in [
        (
            "x.partial.h5",
            "ends in .partial.h5, which mcpi keeps for its checkpoints",
        ),
        (
            ".x.h5.tmp",
            "ends in .tmp, which mcpi keeps for its temporary files",
        ),
        (
            ".x.partial.h5.lock",
            "ends in .lock, which mcpi keeps for its claims",
        ),
        ("x.partial.h5.journal", "ends in .journal"),
    ] {
        refused("reserved-name", &["-n", "1e5", "-o", name], what);
    }
}

/// Starts a run of `-o name` that lasts, and returns once it holds its
/// claim (the lock file records its owner).
fn holding(dir: &Path, name: &str, lock: &str) -> std::process::Child {
    let args = ["-q", "-n", "1e11", "-k", "1000", "-o", name];
    let child = command(dir, 3, &args, &[]).spawn().expect(SPAWN);
    let started = Instant::now();
    while !std::fs::read_to_string(dir.join(lock)).is_ok_and(|owner| owner.ends_with('\n')) {
        assert!(started.elapsed() < common::TIMEOUT, "no claim");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

#[test]
fn outputs_sharing_derived_names_never_run_together() {
    let dir = scratch("shared-names");
    // The case: `-o x.partial.h5` beside a run of `-o x.h5`.
    refused_in(
        &dir,
        &["-n", "1e5", "-o", "x.partial.h5"],
        &[],
        USAGE,
        "ends in .partial.h5",
    );
    // `x` and `x.h5` have one checkpoint name, x.partial.h5: one claim.
    let first = holding(&dir, "x", ".x.partial.h5.lock");
    let owner = std::fs::read_to_string(dir.join(".x.partial.h5.lock")).unwrap();
    let second = mcpi_in(&dir, 3, &["-n", "1e5", "-o", "x.h5"], &[]);
    check_refusal(
        "x.h5 beside x",
        &second,
        USAGE,
        "another mcpi run is writing x.h5",
    );
    assert!(second.stderr.contains(owner.trim()), "{}", second.stderr);
    // SIGTERM to its rank 0, which the claim names, ends the first run
    // (as a signal to a rank, whatever mpirun does with one sent to it); its
    // checkpoint then holds the name.
    let rank0: i32 = owner["pid ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: signals a process of the run this test started.
    unsafe { libc::kill(rank0, libc::SIGTERM) };
    let stopped = wait(first, "the run of x");
    assert_eq!(stopped.status, Some(143), "{}", stopped.stderr);
    let again = mcpi_in(&dir, 3, &["-n", "1e5", "-o", "x.h5"], &[]);
    check_refusal(
        "x.h5 after x stopped",
        &again,
        USAGE,
        "x.partial.h5 holds an interrupted run",
    );
}
#[test]
fn output_appears_while_mcpi_runs() {
    let dir = scratch("appears");
    // Slow enough (scalar kernel) to create the file while it computes.
    let args = ["-q", "-n", "1e8", "-o", "r.h5"];
    let env = [("MCPI_KERNEL", "scalar")];
    let child = command(&dir, 3, &args, &env).spawn().expect(SPAWN);
    let started = Instant::now();
    while !dir.join(".r.h5.tmp").exists() {
        assert!(started.elapsed() < common::TIMEOUT, "no temporary file");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(dir.join("r.h5"), "someone else's").unwrap();
    let run = wait(child, "mcpi while r.h5 appears");
    check_refusal("output appears", &run, FAILURE, "appeared while mcpi ran");
    assert!(run.stderr.contains(".r.h5.tmp"), "{}", run.stderr);
    assert_eq!(std::fs::read(dir.join("r.h5")).unwrap(), b"someone else's");
    assert_eq!(
        inside_of(&dir.join(".r.h5.tmp")),
        INSIDE_1E8,
        "the results are kept"
    );
}

#[test]
fn hostile_slurm_job_id_stays_in_results() {
    let dir = scratch("slurm-id");
    let env = [("SLURM_JOB_ID", "../../escape")];
    let run = mcpi_in(&dir, 3, &["--json", "-n", "1e5"], &env).json();
    let out = run["output"].as_str().unwrap();
    assert!(out.starts_with("results/mcpi-balanced-3r-") && out.ends_with("-j______escape.h5"));
    let files = snapshot(&dir);
    assert_eq!(files.len(), 2, "results/ and the file: {files:?}");
    assert_eq!(inside_of(&dir.join(out)), INSIDE_1E5);
    // A 10 KB id is cut to 64 characters; one that is not UTF-8 still tags
    // the name.
    let env = [("SLURM_JOB_ID", "7".repeat(10_000))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = mcpi_in(&dir, 3, &["--json", "-n", "1e5"], &env).json();
    let tag = format!("-j{}.h5", "7".repeat(64));
    assert!(run["output"].as_str().unwrap().ends_with(&tag), "{run}");
    use std::os::unix::ffi::OsStrExt;
    let mut cmd = command(&dir, 0, &["--json", "-n", "1e5"], &[]);
    cmd.env("SLURM_JOB_ID", std::ffi::OsStr::from_bytes(b"4\xff2"));
    let run = wait(cmd.spawn().expect(SPAWN), "SLURM_JOB_ID not UTF-8").json();
    assert!(
        run["output"].as_str().unwrap().ends_with("-j4_2.h5"),
        "{run}"
    );
}

#[test]
fn stdout_cannot_be_written() {
    let dir = scratch("stdout-full");
    let full = std::fs::File::options()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut cmd = command(&dir, 0, &["--json", "-n", "1e5", "-o", "r.h5"], &[]);
    let run = wait(
        cmd.stdout(full).spawn().expect(SPAWN),
        "stdout on /dev/full",
    );
    check_refusal("stdout full", &run, FAILURE, "cannot write to stdout");
    assert!(run.stderr.contains("the results are in r.h5"));
    assert_eq!(inside_of(&dir.join("r.h5")), INSIDE_1E5);
}

// ---------------------------------------------------------------------------
// How it is launched.

#[test]
fn without_mpirun_it_runs_serially() {
    let dir = scratch("no-mpirun");
    let alone = mcpi_in(&dir, 0, &["--json", "-n", "1e6", "-o", "a.h5"], &[]).json();
    let three = mcpi_in(&dir, 3, &["--json", "-n", "1e6", "-o", "b.h5"], &[]).json();
    assert_eq!(
        (alone["ranks"].as_u64(), alone["engines"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(alone["inside"], three["inside"]);
}

#[test]
fn an_srun_step_whose_ranks_each_run_alone_is_refused() {
    // What `srun -n 4` looks like to each task when the MPI library does not
    // speak srun's --mpi plugin: Slurm says 4 tasks, MPI says 1 rank.
    let dir = scratch("singletons");
    let step = [("SLURM_JOB_ID", "5"), ("SLURM_STEP_NUM_TASKS", "4")];
    for ranks in [0, 1] {
        let row = format!("srun step of 4 tasks, {ranks} ranks");
        let run = mcpi_in(&dir, ranks, &["-n", "1e5"], &step);
        check_refusal(
            &row,
            &run,
            USAGE,
            "srun started 4 tasks but MPI sees 1 rank",
        );
        assert_eq!(run.stdout, "", "{row}: stdout");
        assert!(snapshot(&dir).is_empty(), "{row}: nothing is written");
    }
    // With a working plugin the ranks see each other, and the run goes ahead.
    let run = mcpi_in(&dir, 2, &["--json", "-n", "1e5", "-o", "r.h5"], &step).json();
    assert_eq!(run["slurm_step_tasks"], 4);
    assert_eq!(inside_of(&dir.join("r.h5")), INSIDE_1E5);
}

#[test]
fn a_launcher_whose_processes_each_see_one_rank_is_refused() {
    // The other MPI's mpirun -n 3 starts 3 processes that each see 1 rank
    // (for the MPICH build: Open MPI's mpirun). Every process refuses with
    // status 2; the launcher's rank 0 alone prints the line. The same, from
    // the variables Open MPI's mpirun sets, without any launcher.
    let dir = scratch("wrong-launcher");
    for rank in ["0", "1"] {
        let env = [
            ("OMPI_COMM_WORLD_SIZE", "3"),
            ("OMPI_COMM_WORLD_RANK", rank),
        ];
        let run = mcpi_in(&dir, 0, &["-n", "1e5"], &env);
        assert_eq!(run.status, Some(USAGE), "rank {rank}: {}", run.stderr);
        let said = if rank == "0" { 1 } else { 0 };
        assert_eq!(
            run.stderr.lines().count(),
            said,
            "rank {rank}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    let (other, library) = if common::is_open_mpi() {
        ("mpirun.mpich", "Open MPI")
    } else {
        ("mpirun.openmpi", "MPICH")
    };
    let found = Command::new(other).arg("--version").output().is_ok();
    if !found {
        eprintln!("{other} is not installed: only the environment was tried");
    } else {
        // The usual command's arguments and environment, under `other`.
        let exe = env!("CARGO_BIN_EXE_mcpi");
        let cmd = command(&dir, 0, &["-n", "1e5"], &[]);
        let args: Vec<&std::ffi::OsStr> = cmd.get_args().collect();
        let mut words = vec!["-n", "3", exe];
        if other == "mpirun.openmpi" {
            words.insert(0, "--oversubscribe");
        }
        let mut launched = Command::new(other);
        launched.args(&words).args(args).current_dir(&dir);
        for (name, value) in cmd.get_envs() {
            match value {
                Some(v) => launched.env(name, v),
                None => launched.env_remove(name),
            };
        }
        launched
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let run = wait(
            launched.spawn().expect(SPAWN),
            "mcpi under the other mpirun",
        );
        assert_eq!(run.status, Some(USAGE), "{}", run.stderr);
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("mcpi"))
            .collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        let want = format!(
            "mcpi: error: {} started 3 processes but MPI sees 1 rank: each would run the \
             whole job alone. This mcpi is built with {library}: launch it with {library}'s mpirun",
            if other == "mpirun.openmpi" {
                "Open MPI's mpirun"
            } else {
                "MPICH's mpirun"
            }
        );
        assert!(lines[0].starts_with(&want), "{}", lines[0]);
        assert_eq!(run.stdout, "");
    }
    assert!(snapshot(&dir).is_empty(), "nothing is written");
}

#[test]
fn more_ranks_than_chunks() {
    let dir = scratch("idle-engines");
    let alone = mcpi_in(
        &dir,
        0,
        &["--json", "-n", "1000", "-k", "2", "-o", "a.h5"],
        &[],
    )
    .json();
    for mode in ["balanced", "direct"] {
        let out = format!("{mode}.h5");
        let args = [
            "--json", "-n", "1000", "-k", "2", "--mode", mode, "-o", &out,
        ];
        let run = mcpi_in(&dir, 4, &args, &[]).json();
        assert_eq!(run["inside"], alone["inside"], "{mode}");
        let file = hdf5::File::open(dir.join(&out)).unwrap();
        let engines = file.dataset("engines").unwrap();
        assert_eq!(engines.shape(), [3], "{mode}");
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
    for (what, once) in [("man", ".TH mcpi"), ("bash", "_mcpi() {")] {
        let run = mcpi_in(&dir, 3, &["--generate", what], &[]);
        assert_eq!(run.ok().stdout.matches(once).count(), 1, "{}", run.stdout);
        assert_eq!(run.stderr, "");
    }
    assert!(snapshot(&dir).is_empty());
}

/// Results of `-n 1e6 -k 20` in a fresh directory named `name`.
fn results_to_verify(name: &str) -> PathBuf {
    let dir = scratch(name);
    mcpi_in(&dir, 0, &["-q", "-n", "1e6", "-k", "20", "-o", "r.h5"], &[]).ok();
    dir
}

/// A copy of `dir/r.h5` as `dir/<name>.h5`, changed by `edit`.
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&hdf5::File)) -> String {
    copy_edited(dir, "r.h5", format!("{name}.h5"), edit)
}

/// Makes `file` a schema 3 file (no digest), as an older mcpi wrote them.
fn as_schema_3(file: &hdf5::File) {
    file.delete_attr("digest").unwrap();
    set_attr(file, "schema_version", 3u64);
}

/// Adds 1000 to chunk `chunk`'s inside and to the file's.
fn add_1000_inside(file: &hdf5::File, chunk: usize) {
    let mut rows = chunks_of(file);
    rows[chunk].inside += 1000;
    set_chunks(file, &rows);
    let inside = file.attr("inside").unwrap().read_scalar::<u64>().unwrap();
    set_attr(file, "inside", inside + 1000);
}

#[test]
fn verify_recomputes_a_results_file_bit_identically_on_any_ranks() {
    let dir = results_to_verify("verify-ok");
    let old = edited(&dir, "old", as_schema_3);
    for ranks in [0, 1, 2, 4] {
        for (args, line) in [
            (
                &["verify", "r.h5"][..],
                "r.h5: bit-identical: 20 of 20 chunks recomputed",
            ),
            (
                &["verify", "r.h5", "--sample", "3"],
                "r.h5: bit-identical: 3 of 20 chunks recomputed",
            ),
            (
                &["verify", &old],
                "old.h5: bit-identical: 20 of 20 chunks recomputed",
            ),
        ] {
            let before = snapshot(&dir);
            let run = mcpi_in(&dir, ranks, args, &[]);
            run.ok();
            assert_eq!(run.stdout.trim_end(), line, "{args:?} on {ranks} ranks");
            assert!(snapshot(&dir) == before, "verify wrote something");
        }
    }
}

#[test]
fn verify_reports_the_first_chunk_that_differs() {
    let dir = results_to_verify("verify-mismatch");
    let inside = |chunk: u64| {
        let file = hdf5::File::open(dir.join("r.h5")).unwrap();
        chunks_of(&file)[chunk as usize].inside
    };
    let seven = inside(7);
    // Without a digest (schema 3), only recomputing tells.
    let changed = edited(&dir, "changed", |f| {
        as_schema_3(f);
        add_1000_inside(f, 7);
    });
    let reason = format!(
        "{changed}: chunk 7 recomputes to {seven} inside, the file says {}",
        seven + 1000
    );
    refused_in(&dir, &["verify", &changed], &[], FAILURE, &reason);
    let seed = edited(&dir, "seed", |f| {
        as_schema_3(f);
        set_attr(f, "seed", 7u64);
    });
    let reason = format!("{seed}: chunk 0 recomputes to ");
    refused_in(&dir, &["verify", &seed], &[], FAILURE, &reason);
    // With its digest, the change is found before any chunk is computed.
    let digest = edited(&dir, "digest", |f| add_1000_inside(f, 7));
    let reason = format!("{digest} fails its integrity check: its contents hash to fnv1a64:");
    refused_in(&dir, &["verify", &digest], &[], FAILURE, &reason);
    // A root inside that its chunks do not add up to.
    let sum = edited(&dir, "sum", |f| {
        as_schema_3(f);
        set_attr(f, "inside", 5u64);
    });
    let reason = format!("{sum} says inside = 5, but its chunks add up to ");
    refused_in(&dir, &["verify", &sum], &[], FAILURE, &reason);
}

#[test]
fn verify_refuses_a_file_it_cannot_read() {
    let dir = results_to_verify("verify-unreadable");
    let good = std::fs::read(dir.join("r.h5")).unwrap();
    std::fs::write(dir.join("cut.h5"), &good[..good.len() / 2]).unwrap();
    for (args, reason) in [
        (&["verify", "gone.h5"][..], "gone.h5 does not exist"),
        (&["verify", "cut.h5"], "cut.h5 is not a readable HDF5 file"),
        (&["verify", "r.h5", "--sample", "0"], "is zero"),
        (&["-n", "5", "verify", "r.h5"], "cannot be used with"),
    ] {
        refused_in(&dir, args, &[], USAGE, reason);
    }
}

/// MPICH 4.0.2 over UCX's TCP transport can spin in `MPI_Finalize` forever once a run has
/// exchanged a thousand messages or so (openucx/ucx#8738), after the results are written: in
/// about half of the runs of 10⁴ chunks here. Every run still ends, with status 0, its results
/// complete; a finalize that took too long is named once, by rank 0. MPICH's mpiexec runs with
/// `-disable-auto-cleanup`: else it may kill a rank that is leaving the finalize a moment after
/// another (status 9; docs/multi-node.md). (Open MPI ignores `UCX_TLS`: its runs simply end.)
#[test]
fn a_finalize_that_hangs_after_the_results_does_not_hold_the_run() {
    let dir = scratch("finalize-hang");
    let args = |out: &'static str| ["-q", "-n", "1e8", "--chunks", "10000", "-o", out];
    mcpi_in(&dir, 3, &args("reference.h5"), &[]).ok();
    let want = inside_of(&dir.join("reference.h5"));
    let launcher: &[&str] = if is_open_mpi() {
        &[]
    } else {
        &["-disable-auto-cleanup"]
    };
    for attempt in 0..6 {
        let mut cmd = launched_with(launcher, &dir, 3, &args("r.h5"), &[("UCX_TLS", "tcp")]);
        let run = wait(cmd.spawn().expect(SPAWN), "mcpi with UCX_TLS=tcp");
        assert_eq!(run.status, Some(0), "attempt {attempt}:\n{}", run.stderr);
        let notes = run.stderr.lines().filter(|l| !l.is_empty()).count();
        let named = run.stderr.matches("mcpi: MPI_Finalize did not return in 5 s; exiting with status 0 (results are safe)").count();
        assert!(
            named <= 1 && notes == named,
            "attempt {attempt}:\n{}",
            run.stderr
        );
        assert_eq!(inside_of(&dir.join("r.h5")), want, "attempt {attempt}");
        std::fs::remove_file(dir.join("r.h5")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
