//! What a person sees: the `[stdout:k]` lines, live progress and the summary.

use crate::cli::ProgressMode;
use crate::record::{EngineRow, RunRecord};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

/// Where informational lines go: stdout, or stderr when stdout carries JSON.
#[derive(Clone, Copy, Debug)]
pub struct Console {
    pub json: bool,
    pub quiet: bool,
}

impl Console {
    pub fn info(&self, text: &str) {
        match (self.quiet, self.json) {
            (true, _) => {}
            (false, true) => {
                let _ = print_to(&mut std::io::stderr(), text);
            }
            (false, false) => print_to_stdout(text),
        }
    }

    /// The `--json` object, always on stdout.
    pub fn json(&self, text: &str) {
        print_to_stdout(text);
    }
}

/// The first failure to write to stdout (a full disk, a closed pipe), kept so
/// that the run can end with an error instead of losing its output silently.
static STDOUT_FAILURE: OnceLock<String> = OnceLock::new();

/// Why a line meant for stdout was lost, if one was.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILURE.get().map(String::as_str)
}

fn print_to_stdout(text: &str) {
    if let Err(e) = print_to(&mut std::io::stdout(), text) {
        let _ = STDOUT_FAILURE.set(e.to_string());
    }
}

/// Prints `mcpi: error: <message>` on stderr.
pub fn error(message: &str) {
    let _ = print_to(&mut std::io::stderr(), &format!("mcpi: error: {message}"));
}

/// Prints `mcpi: warning: <message>` on stderr.
pub fn warning(message: &str) {
    let _ = print_to(&mut std::io::stderr(), &format!("mcpi: warning: {message}"));
}

/// Prints `mcpi: <message>` on stderr, even with `--quiet`: how a run that
/// was stopped ended.
pub fn notice(message: &str) {
    let _ = print_to(&mut std::io::stderr(), &format!("mcpi: {message}"));
}

/// clap's multi-line error text as one line: the message and any value list,
/// without usage, tips and the pointer to `--help` (added back briefly).
pub fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Usage:")
                && !l.starts_with("tip:")
                && !l.starts_with("For more information")
        })
        .collect();
    let text = parts.join(" ");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    format!("{text} (see mcpi --help)")
}

/// The command line, each argument shell-quoted when it needs to be.
pub fn command_line(args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let quote = |arg: std::ffi::OsString| {
        let arg = arg.to_string_lossy().into_owned();
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_=.,:/+@%".contains(c);
        if !arg.is_empty() && arg.chars().all(plain) {
            arg
        } else {
            format!("'{}'", arg.replace('\'', "'\\''"))
        }
    };
    args.map(quote).collect::<Vec<_>>().join(" ")
}

/// Prints a line, ignoring a closed pipe (`mcpi | head` must not panic).
/// Writes one line and flushes it. Failures on stderr are ignored (there is
/// nowhere left to report them); [`print_to_stdout`] keeps its own.
fn print_to(stream: &mut dyn Write, text: &str) -> std::io::Result<()> {
    writeln!(stream, "{text}").and_then(|()| stream.flush())
}

/// The tutorial's `%px print(os.getpid())`: one `[stdout:k] PID` line per
/// targeted engine, in engine order.
pub fn stdout_lines(engines: &[EngineRow], targets: &[u32]) -> String {
    engines
        .iter()
        .filter(|e| targets.contains(&e.engine_id))
        .map(|e| format!("[stdout:{}] {}", e.engine_id, e.pid))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Below this share of CPU time in the compute time, engines were descheduled.
const SHARED_CORES: f64 = 0.9;

/// The human summary (ipyparallel's `AsyncResult` attributes and more).
pub fn summary(record: &RunRecord) -> String {
    let s = &record.summary;
    let sigmas = if s.stderr > 0.0 {
        s.abs_error / s.stderr
    } else {
        0.0
    };
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<13}{value}");
    };
    let roles = match s.ranks {
        1 => "1 rank: rank 0 computes every chunk".to_string(),
        2 => "2 ranks: controller + 1 engine".to_string(),
        n => format!("{n} ranks: controller + {} engines", n - 1),
    };
    line("mode", format!("{} ({roles}), {}", s.mode, s.mpi_library));
    line(
        "engines",
        format!("{} (targets {})", s.engines, id_list(&s.targets)),
    );
    if s.sessions > 1 {
        line(
            "sessions",
            format!(
                "{} (resumed: elapsed, startup and controller times are summed)",
                s.sessions
            ),
        );
    }
    line(
        "elapsed",
        format!(
            "{:.4} s  (controller wall time of the parallel section)",
            s.elapsed_s
        ),
    );
    line(
        "serial_time",
        format!("{:.4} s  (sum of chunk compute times)", s.serial_s),
    );
    let cpu_share = if s.serial_s > 0.0 {
        s.serial_cpu_s / s.serial_s
    } else {
        1.0
    };
    let shared = if cpu_share < SHARED_CORES {
        ": engines shared cores, so serial_time and speedup count waiting"
    } else {
        ""
    };
    line(
        "serial_cpu",
        format!(
            "{:.4} s  ({:.0}% of serial_time{shared})",
            s.serial_cpu_s,
            100.0 * cpu_share
        ),
    );
    line(
        "speedup",
        format!(
            "{:.2}x  (efficiency {:.1}%)",
            s.speedup,
            100.0 * s.efficiency
        ),
    );
    line(
        "startup",
        format!("{:.4} s  (MPI init to job start)", s.startup_s),
    );
    line(
        "controller",
        format!(
            "{:.4} s CPU ({:.1}% of elapsed)",
            s.controller_cpu_s,
            100.0 * s.controller_cpu_share
        ),
    );
    line(
        "samples",
        format!(
            "{} in {} chunks, seed {}, rng {}, kernel {}",
            s.samples, s.chunks, s.seed, s.rng, s.kernel
        ),
    );
    line("inside", s.inside.to_string());
    line(
        "pi",
        format!("{:.8} ± {:.8} (standard error)", s.pi, s.stderr),
    );
    line("95% CI", format!("[{:.8}, {:.8}]", s.ci95_low, s.ci95_high));
    line("|pi - π|", format!("{:.3e} ({sigmas:.2} σ)", s.abs_error));
    line("results", s.output.clone());
    out.pop();
    out
}

/// Balanced mode's first line: the engines are up.
pub fn ready_line(engines: usize, targets: &[u32]) -> String {
    let plural = if engines == 1 { "" } else { "s" };
    format!(
        "ready: {engines} engine{plural}, targets {}",
        id_list(targets)
    )
}

/// `0,1,2` for a list of ids.
pub fn id_list(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Live progress of balanced mode on stderr.
pub struct Progress {
    view: View,
    total: u64,
    start: Instant,
    /// Last tenth of the work a plain line was printed for.
    last_tenth: u64,
}

enum View {
    Hidden,
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    /// Progress towards `total` chunks, `done` of them done before.
    pub fn new(mode: ProgressMode, quiet: bool, total: u64, done: u64) -> Progress {
        let bar = |target| {
            let bar = ProgressBar::with_draw_target(Some(total), target);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} chunks  {elapsed_precise}  eta {eta}",
                )
                .expect("a valid template"),
            );
            View::Bar(bar)
        };
        let view = match (quiet, mode, std::io::stderr().is_terminal()) {
            (true, _, _) | (_, ProgressMode::Never, _) => View::Hidden,
            (_, ProgressMode::Auto, true) => bar(ProgressDrawTarget::stderr()),
            (_, ProgressMode::Auto, false) => View::Lines,
            (_, ProgressMode::Always, _) => bar(ProgressDrawTarget::term_like_with_hz(
                Box::new(console::Term::stderr()),
                10,
            )),
        };
        if let View::Bar(bar) = &view {
            bar.set_position(done);
        }
        Progress {
            view,
            total,
            start: Instant::now(),
            last_tenth: tenths(done, total),
        }
    }

    /// Measures the time shown from now on.
    pub fn start_clock(&mut self) {
        self.start = Instant::now();
    }

    /// `done` of the chunks are complete.
    pub fn update(&mut self, done: u64) {
        match &self.view {
            View::Hidden => {}
            View::Bar(bar) => bar.set_position(done),
            View::Lines => {
                let tenth = tenths(done, self.total);
                if tenth > self.last_tenth {
                    self.last_tenth = tenth;
                    let line = format!(
                        "progress {done}/{} chunks {:.2} s",
                        self.total,
                        self.start.elapsed().as_secs_f64()
                    );
                    let _ = print_to(&mut std::io::stderr(), &line);
                }
            }
        }
    }

    pub fn finish(&self) {
        if let View::Bar(bar) = &self.view {
            bar.finish_and_clear();
        }
    }
}

/// How many whole tenths of `total` `done` is.
fn tenths(done: u64, total: u64) -> u64 {
    (u128::from(done) * 10 / u128::from(total.max(1))) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_progress_prints_at_most_every_tenth() {
        let printed: Vec<u64> = (1..=100u64)
            .scan(0, |last, done| {
                let t = tenths(done, 100);
                let new = t > *last;
                *last = t.max(*last);
                Some(new.then_some(done))
            })
            .flatten()
            .collect();
        assert_eq!(printed, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(tenths(3, 3), 10);
        assert_eq!(tenths(1, 3), 3);
    }

    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: invalid value 'fast' for '--mode <MODE>'\n  [possible values: balanced, direct]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "invalid value 'fast' for '--mode <MODE>' [possible values: balanced, direct] (see mcpi --help)"
        );
        let rendered = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: mcpi [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered),
            "unexpected argument '--bogus' found (see mcpi --help)"
        );
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let args = ["mcpi", "-o", "my results/x.h5", "--targets", ":-1", "it's"].map(Into::into);
        assert_eq!(
            command_line(args.into_iter()),
            "mcpi -o 'my results/x.h5' --targets :-1 'it'\\''s'"
        );
    }

    #[test]
    fn stdout_lines_follow_engine_order_and_targets() {
        let engine = crate::record::example_engine;
        let engines = [engine(0, 11), engine(1, 12), engine(2, 13)];
        assert_eq!(
            stdout_lines(&engines, &[0, 1]),
            "[stdout:0] 11\n[stdout:1] 12"
        );
    }
}
