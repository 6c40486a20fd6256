//! Running the real `mcpi` binary under the real `mpirun`.
#![allow(dead_code)] // each test crate uses its own subset

pub mod edit;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nothing may hang: a run that takes longer is killed and fails the test.
pub const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.status,
            Some(0),
            "mcpi failed:\n{}\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        self.ok();
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "--json must print one line:\n{}",
            self.stdout
        );
        serde_json::from_str(lines[0]).expect("valid JSON")
    }

    /// Lines of stderr that carry an error message.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains("error"))
            .collect()
    }
}

/// The launcher: `$MCPI_MPIRUN` (scripts/test.sh sets `mpirun.mpich` or
/// `mpirun.openmpi`, matching the MPI the binary was built with), else `mpirun`.
pub fn mpirun() -> String {
    std::env::var("MCPI_MPIRUN")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "mpirun".into())
}

/// Whether the launcher is Open MPI's (it needs `--oversubscribe` past the
/// core count, and permission to run as root).
pub fn is_open_mpi() -> bool {
    static OPEN_MPI: OnceLock<bool> = OnceLock::new();
    *OPEN_MPI.get_or_init(|| {
        Command::new(mpirun())
            .arg("--version")
            .output()
            .map(|o| {
                let version = String::from_utf8_lossy(&o.stdout);
                // `mpirun (Open MPI) 4.1.4`, or `mpirun.openmpi (OpenRTE) 4.1.4`
                version.contains("Open MPI") || version.contains("OpenRTE")
            })
            .unwrap_or(false)
    })
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpi-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `mpirun -n <ranks> mcpi <args>` in `dir` (`ranks == 0`: no mpirun at all),
/// with `env` added to a copy of this environment without its `SLURM_*`.
pub fn mcpi_in(dir: &Path, ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Run {
    let what = format!("mcpi {args:?} on {ranks} ranks");
    wait(command(dir, ranks, args, env).spawn().expect(SPAWN), &what)
}

pub const SPAWN: &str = "mpirun and the mcpi binary can be started";

/// The command [`mcpi_in`] runs, with stdout and stderr piped, to adjust
/// before spawning it and handing the child to [`wait`].
pub fn command(dir: &Path, ranks: usize, args: &[&str], env: &[(&str, &str)]) -> Command {
    launched_with(&[], dir, ranks, args, env)
}

/// [`command`] with `launcher` options given to mpirun before `-n`.
pub fn launched_with(
    launcher: &[&str],
    dir: &Path,
    ranks: usize,
    args: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let exe = env!("CARGO_BIN_EXE_mcpi");
    let mut cmd = if ranks == 0 {
        Command::new(exe)
    } else {
        let mut cmd = Command::new(mpirun());
        if is_open_mpi() {
            cmd.arg("--oversubscribe");
        }
        cmd.args(launcher);
        cmd.args(["-n", &ranks.to_string(), exe]);
        cmd
    };
    // A run inside someone's Slurm job must not pick up that job.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SLURM_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args)
        .current_dir(dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        // Open MPI hands rank 0 a pseudo-terminal: keep clap's output plain.
        .env("NO_COLOR", "1")
        .env_remove("MCPI_KERNEL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Collects a spawned run's output and status; kills it and fails the test
/// after [`TIMEOUT`]. Streams that were not piped read as empty.
pub fn wait(mut child: Child, what: &str) -> Run {
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read_all = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut stream) = stream {
                stream.read_to_string(&mut s).unwrap();
            }
            s
        })
    };
    let reader = read_all(out.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let err_reader = read_all(err.map(|s| Box::new(s) as Box<dyn Read + Send>));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("{what} hung for {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status: status.code(),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

pub fn mcpi(ranks: usize, args: &[&str]) -> Run {
    mcpi_in(&std::env::temp_dir(), ranks, args, &[])
}
