//! The command line: options and `--help`. What they mean is decided in
//! [`super::job`] (for every rank) and [`super::settings`] (for rank 0).

use super::count::parse_count;
use super::job::{Dispatch, Mode, Schedule};
use crate::run::dispatch::DEFAULT_WINDOW;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Points when `--samples` is not given.
pub(crate) const DEFAULT_SAMPLES: u64 = 100_000_000;
/// Chunks when `--chunks` is not given.
pub(crate) const DEFAULT_CHUNKS: u64 = 100;

/// The seed used when `--seed` is not given.
pub(crate) const DEFAULT_SEED: u64 = 20_260_101;

const AFTER_HELP: &str = "\
Roles:
  Rank 0 is the controller and scheduler; ranks 1..N-1 are the engines, with
  engine ids 0..N-2 (the tutorial's rc.ids). Run alone (or with -n 1), rank 0
  computes every chunk itself: the serial baseline.

Reproducibility:
  Each chunk has its own random streams derived from (--seed, chunk index), so
  a (--seed, --samples, --chunks) triple gives the same inside count in both
  modes, with any number of ranks, any --targets and any schedule.

Interruptions:
  SIGINT, SIGTERM or SIGUSR1 (Ctrl-C, kill, Slurm's --signal) stop the run
  cleanly: the chunks being computed are collected (up to --grace), every
  completed chunk is saved to <output>.partial.h5, and every rank exits with
  128 + the signal number. Completed chunks are also saved within
  --checkpoint-every seconds, so a crash loses the chunks being computed and
  at most that much more.
  mcpi --resume <output>.partial.h5 finishes the run; its inside count is
  identical to an uninterrupted run's.

Environment:
  MCPI_KERNEL    force a sampling kernel (see the summary's 'kernel' line)
  SLURM_JOB_ID   added to the default output name (array tasks: <array job>_<task>);
                 it and the job's other SLURM_* values are stored in the results

Examples:
  mpirun -n 4 mcpi                          balanced mode, 3 engines, 1e8 points
  mpirun -n 4 mcpi --mode direct            every engine takes a static share
  mpirun -n 4 mcpi --mode direct --targets :-1
                                            all engines but the last
  mpirun -n 3 mcpi --samples 1e9 --chunks 1000 --json
  mpirun -n 3 mcpi --samples 1e9 --slow 0=3 --schedule guided
                                            a straggler, and load balancing around it
  mpirun -n 3 mcpi --samples 1e11 --chunks 10000 --precision 1e-5
                                            stop once pi is known to +-1e-5 (95%)
  srun --mpi=pmi2 mcpi --mode balanced      inside a Slurm allocation
  mpirun -n 4 mcpi --resume results/mcpi-balanced-4r-20261129T101500Z.partial.h5
                                            finish an interrupted run
  mcpi --samples 1e8                        one process: the serial baseline
  mpirun -n 4 mcpi verify results/mcpi-balanced-4r-20261129T101500Z.h5
                                            recompute every chunk and compare
  mcpi --generate man > mcpi.1              the man page (also bash, zsh, fish)";

#[derive(Parser, Debug)]
#[command(
    name = "mcpi",
    version,
    about = "Monte Carlo estimate of pi on MPI: the IPython.parallel tutorial's \
             direct and load-balanced interfaces, with timings written to HDF5.",
    long_about = None,
    after_help = AFTER_HELP,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,

    /// How chunks reach the engines: 'balanced' hands the next chunk to
    /// whichever engine is free (load-balanced view); 'direct' gives each
    /// engine a fixed contiguous share (direct view).
    #[arg(long, value_enum, default_value_t = Mode::Balanced)]
    pub(crate) mode: Mode,

    /// Total number of random points: 100000000, 1e8, 2.5e9, 100M, 1G,
    /// 1_000_000 [default: 1e8]
    #[arg(long, short = 'n', value_name = "N", value_parser = parse_count, allow_hyphen_values = true)]
    pub(crate) samples: Option<u64>,

    /// Number of chunks the points are split into, exactly (the first N mod K
    /// chunks get one point more) [default: 100]
    #[arg(long, short = 'k', value_name = "K", value_parser = parse_count, allow_hyphen_values = true)]
    pub(crate) chunks: Option<u64>,

    /// Seed of all random streams (any u64) [default: 20260101]
    #[arg(long, short = 's', value_name = "S", value_parser = parse_seed, allow_hyphen_values = true)]
    pub(crate) seed: Option<u64>,

    /// Engines that work, in Python index syntax over engine ids: ':-1', '1:',
    /// '::2', '0,2', '3' [default: all]
    #[arg(long, short = 't', value_name = "SLICE", allow_hyphen_values = true)]
    pub(crate) targets: Option<String>,

    /// Results file [default: results/mcpi-<mode>-<N>r-<UTC time>[-j<SLURM_JOB_ID>].h5]
    #[arg(long, short = 'o', value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,

    /// Overwrite --output if it exists (otherwise an existing file is never touched).
    #[arg(long)]
    pub(crate) force: bool,

    /// Print the summary as one JSON object on stdout (other lines go to stderr).
    #[arg(long)]
    pub(crate) json: bool,

    /// Print nothing but errors (and the JSON object with --json).
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,

    /// Live progress on stderr: 'auto' draws a bar on a
    /// terminal and plain lines otherwise; 'always' draws the bar even when
    /// stderr is a pipe (as under mpirun); 'never' shows nothing.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ProgressMode::Auto)]
    pub(crate) progress: ProgressMode,

    /// Balanced mode: chunks in flight per engine, 1 to 64 (one computing, the rest
    /// queued so the engine never waits for the controller); more when that many
    /// chunks last less than 4 ms, or when an engine is seen waiting for work.
    #[arg(long, value_name = "W", default_value_t = DEFAULT_WINDOW as u32,
          value_parser = parse_window, allow_hyphen_values = true)]
    pub(crate) window: u32,

    /// Balanced mode: how chunks are handed out. 'dynamic': one at a time to
    /// whichever engine has room in its window; 'guided': batches that
    /// shrink as the work runs out (remaining / (2 x engines), at least one);
    /// 'static': chunk i to the i-th engine mod E, decided up front
    /// [default: dynamic]
    #[arg(long, value_enum, value_name = "HOW")]
    pub(crate) schedule: Option<Schedule>,

    /// Who feeds the engines. 'flat': rank 0 talks to every engine; 'node': to one
    /// engine per node, which feeds the other engines of its node and sends their
    /// results back together, so rank 0's messages grow with nodes, not engines;
    /// 'auto': node when the ranks span several nodes, else flat. Counts are the
    /// same either way
    #[arg(long, value_enum, value_name = "HOW", default_value_t = Dispatch::Auto)]
    pub(crate) dispatch: Dispatch,

    /// Make engines stragglers, for teaching and testing: ENGINE=FACTOR[,...]
    /// (e.g. '0=3'): that engine takes FACTOR (1 to 1000) times as long per
    /// chunk (it waits, without using the CPU, FACTOR - 1 times its compute
    /// time after each chunk).
    #[arg(long, value_name = "E=F,...", value_parser = parse_slow, allow_hyphen_values = true)]
    pub(crate) slow: Option<Stragglers>,

    /// Stop as soon as the 95% confidence interval of pi is at most +-P; the
    /// chunks are taken in index order, so the answer depends only on the
    /// seed, --samples (then the most points drawn), --chunks and P.
    #[arg(long, value_name = "P", value_parser = parse_precision, allow_hyphen_values = true)]
    pub(crate) precision: Option<f64>,

    /// Continue the interrupted run saved in FILE (a `.partial.h5`
    /// checkpoint): compute only its missing chunks, with any mode and number
    /// of ranks, and complete it into the results file it was heading for.
    /// --samples, --chunks and --seed come from the file.
    #[arg(long, value_name = "FILE", conflicts_with = "output")]
    pub(crate) resume: Option<PathBuf>,

    /// Save the completed chunks to `<output>.partial.h5` at most SECS after
    /// they come in (and when a signal stops the run); 0 saves as often as the
    /// disk allows.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds)]
    pub(crate) checkpoint_every: Duration,

    /// After SIGINT, SIGTERM or SIGUSR1: how long to wait for the chunks being
    /// computed before saving without them.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub(crate) grace: Duration,

    /// Print the man page or a shell completion script on stdout and exit.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub(crate) generate: Option<Generate>,
}

/// What mcpi does other than a run.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Recompute the chunks of a results file or checkpoint, under any number
    /// of ranks, and compare them with the file: exit 0 if every one is
    /// bit-identical, 1 at the first that is not (or if the file fails its
    /// integrity check), 2 if the file cannot be read. Writes nothing.
    Verify {
        /// The results file or checkpoint (`.h5`, `.partial.h5`).
        file: PathBuf,
        /// Recompute only K chunks, spread evenly over the file's (the first
        /// and the last among them) [default: all]
        #[arg(long, value_name = "K", value_parser = parse_count, allow_hyphen_values = true)]
        sample: Option<u64>,
    },
}

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Generate {
    /// A roff man page (`mcpi.1`).
    Man,
    Bash,
    Zsh,
    Fish,
}

impl Generate {
    /// Writes the man page or completion script to `out`.
    pub(crate) fn write(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use clap::CommandFactory;
        use clap_complete::Shell;
        let mut command = Cli::command();
        let shell = match self {
            Generate::Man => return clap_mangen::Man::new(command).render(out),
            Generate::Bash => Shell::Bash,
            Generate::Zsh => Shell::Zsh,
            Generate::Fish => Shell::Fish,
        };
        clap_complete::generate(shell, &mut command, "mcpi", out);
        Ok(())
    }
}

/// Seconds as a plain non-negative number: `10`, `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| *d <= Duration::from_secs(366 * 86_400))
        .ok_or_else(|| format!("'{text}' is not a number of seconds between 0 and a year"))
}

/// The largest `--slow` factor: a chunk a thousand times as long.
pub(crate) const MAX_SLOW: f64 = 1000.0;

/// `--slow`'s engines and their factors, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stragglers(pub(crate) Vec<(u32, f64)>);

/// `--slow`: `ENGINE=FACTOR[,ENGINE=FACTOR...]`, each engine once, each
/// factor a finite number of at least 1. Whether the engines exist is
/// checked against the world in [`super::Job`].
fn parse_slow(text: &str) -> Result<Stragglers, String> {
    let what = "expected ENGINE=FACTOR[,ENGINE=FACTOR...], e.g. 0=3";
    let mut slow: Vec<(u32, f64)> = Vec::new();
    for item in text.split(',') {
        let Some((engine, factor)) = item.split_once('=') else {
            return Err(format!("'{item}': {what}"));
        };
        let engine: u32 = engine
            .trim()
            .parse()
            .map_err(|_| format!("'{item}': '{}' is not an engine id; {what}", engine.trim()))?;
        let factor: f64 = factor
            .trim()
            .parse()
            .ok()
            .filter(|f: &f64| (1.0..=MAX_SLOW).contains(f))
            .ok_or_else(|| {
                format!(
                    "'{item}': the factor must be a number from 1 to {MAX_SLOW}, not '{}'",
                    factor.trim()
                )
            })?;
        if slow.iter().any(|&(e, _)| e == engine) {
            return Err(format!("'{text}' slows engine {engine} twice"));
        }
        slow.push((engine, factor));
    }
    Ok(Stragglers(slow))
}

/// `--precision`: a positive, finite half-width of the 95% interval of pi.
fn parse_precision(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p > 0.0)
        .ok_or_else(|| format!("'{text}' is not a positive number (e.g. 1e-4)"))
}

/// Most chunks an engine may hold in balanced mode.
pub(crate) const MAX_WINDOW: u32 = 64;

/// `--seed`: any u64, in decimal digits.
fn parse_seed(text: &str) -> Result<u64, String> {
    let what = format!("a seed is a whole number from 0 to {}", u64::MAX);
    whole_number(text, &what)
        .and_then(|n| u64::try_from(n).map_err(|_| format!("'{text}' is too large; {what}")))
}

/// `--window`: 1 to [`MAX_WINDOW`] chunks.
fn parse_window(text: &str) -> Result<u32, String> {
    let what = format!("the window is 1 to {MAX_WINDOW} chunks per engine");
    match whole_number(text, &what)? {
        n @ 1.. if n <= u128::from(MAX_WINDOW) => Ok(n as u32),
        _ => Err(format!("'{text}' is out of range; {what}")),
    }
}

/// Decimal digits (an optional '+'), saying why anything else is refused.
fn whole_number(text: &str, what: &str) -> Result<u128, String> {
    let s = text.trim();
    let digits = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        Err(format!("'{text}' is negative; {what}"))
    } else if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        Err(format!("'{text}' is not a whole number; {what}"))
    } else {
        // More than 39 digits overflow u128: the same as too large.
        Ok(digits.parse().unwrap_or(u128::MAX))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressMode {
    Auto,
    Always,
    Never,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::targets::TargetsError;
    use crate::config::{ConfigError, Job};
    use crate::run::plan::PlanError;
    use clap::CommandFactory;

    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mcpi").chain(args.iter().copied()))
    }

    #[test]
    fn the_cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_man_page_and_completions_know_every_option() {
        for what in [Generate::Man, Generate::Bash, Generate::Zsh, Generate::Fish] {
            let mut out = Vec::new();
            what.write(&mut out).unwrap();
            // roff escapes hyphens: `\-\-checkpoint\-every`.
            let text = String::from_utf8(out).unwrap().replace('\\', "");
            for option in ["samples", "checkpoint-every", "resume", "generate"] {
                assert!(text.contains(option), "{what:?} lacks --{option}");
            }
        }
        assert_eq!(
            parse(&["--generate", "zsh"]).unwrap().generate,
            Some(Generate::Zsh)
        );
    }

    #[test]
    fn stragglers_and_precision_are_checked_as_they_are_parsed() {
        assert_eq!(parse_slow("0=3"), Ok(Stragglers(vec![(0, 3.0)])));
        assert_eq!(
            parse_slow("1=1, 0=2.5"),
            Ok(Stragglers(vec![(1, 1.0), (0, 2.5)]))
        );
        let cli = parse(&["--slow", "1=2,0=3"]).unwrap();
        assert_eq!(cli.slow, Some(Stragglers(vec![(1, 2.0), (0, 3.0)])));
        for (bad, reason) in [
            ("0", "expected ENGINE=FACTOR"),
            ("x=2", "not an engine id"),
            ("-1=2", "not an engine id"),
            ("0=0.5", "from 1 to 1000"),
            ("0=nan", "from 1 to 1000"),
            ("0=inf", "from 1 to 1000"),
            ("0=1e30", "from 1 to 1000"),
            ("0=", "from 1 to 1000"),
            ("0=2,0=3", "twice"),
        ] {
            let err = parse_slow(bad).unwrap_err();
            assert!(err.contains(reason), "{bad}: {err}");
        }
        assert_eq!(parse_precision("1e-4"), Ok(1e-4));
        for bad in ["0", "-1e-4", "nan", "inf", "", "tiny"] {
            assert!(parse_precision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_are_plain_non_negative_numbers() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        for bad in ["-1", "nan", "inf", "1e30", "", "10s"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_options_are_refused() {
        for args in [
            &["--samples", "0"][..],
            &["--samples", "1.5"],
            &["--chunks", "0"],
            &["--seed", "-1"],
            &["--mode", "fast"],
            &["--window", "0"],
            &["--progress", "sometimes"],
            &["--resume", "a.partial.h5", "--output", "b.h5"],
            &["--grace", "-1"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        for (args, reason) in [
            (&["--seed", "-1"][..], "is negative"),
            (&["--seed", "18446744073709551616"], "too large"),
            (&["--seed", "1e3"], "not a whole number"),
            (&["--seed", ""], "not a whole number"),
            (&["--window", "-1"], "is negative"),
            (&["--window", "65"], "out of range"),
            (&["--window", "0"], "out of range"),
            (&["--window", "1e30"], "not a whole number"),
            (
                &["--window", "99999999999999999999999999999999999999999"],
                "out of range",
            ),
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(err.contains(reason), "{args:?}: {err}");
        }
        let cli = parse(&["--seed", "18446744073709551615", "--window", "+64"]).unwrap();
        assert_eq!((cli.seed, cli.window), (Some(u64::MAX), MAX_WINDOW));
        let cli = parse(&["--samples", "10", "--chunks", "11"]).unwrap();
        assert!(matches!(
            Job::from_cli(&cli, 3, None),
            Err(ConfigError::Plan(PlanError::MoreChunksThanSamples { .. }))
        ));
        let cli = parse(&["--targets", ":-1"]).unwrap();
        assert!(matches!(
            Job::from_cli(&cli, 1, None),
            Err(ConfigError::Targets(TargetsError::NoEngine { .. }))
        ));
    }
}
