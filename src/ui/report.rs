//! What a person sees: the `[stdout:k]` lines, the summary, and the error,
//! warning and notice lines on stderr.

use crate::record::stats::Z95;
use crate::record::{EngineRow, RunRecord};
use std::fmt::Write as _;
use std::io::Write;
use std::sync::OnceLock;

/// Where informational lines go: stdout, or stderr when stdout carries JSON.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Console {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

impl Console {
    pub(crate) fn info(&self, text: &str) {
        match (self.quiet, self.json) {
            (true, _) => {}
            (false, true) => {
                let _ = print_to(&mut std::io::stderr(), text);
            }
            (false, false) => print_to_stdout(text),
        }
    }

    /// The `--json` object, always on stdout.
    pub(crate) fn json(&self, text: &str) {
        print_to_stdout(text);
    }
}

/// The first failure to write to stdout (a full disk), kept so that the run
/// can end with an error instead of losing its output silently. A closed pipe
/// (`mcpi | head -1`, EPIPE) is not kept: the reader stopped reading on
/// purpose, and the results file has everything.
static STDOUT_FAILURE: OnceLock<String> = OnceLock::new();

/// Why a line meant for stdout was lost, if one was.
pub(crate) fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILURE.get().map(String::as_str)
}

fn print_to_stdout(text: &str) {
    match print_to(&mut std::io::stdout(), text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            let _ = STDOUT_FAILURE.set(e.to_string());
        }
        _ => {}
    }
}

/// Prints `mcpi: error: <message>` on stderr.
pub(crate) fn error(message: &str) {
    let _ = print_to(
        &mut std::io::stderr(),
        &format!("mcpi: error: {}", readable(message)),
    );
}

/// Prints `mcpi: warning: <message>` on stderr.
pub(crate) fn warning(message: &str) {
    let _ = print_to(
        &mut std::io::stderr(),
        &format!("mcpi: warning: {}", readable(message)),
    );
}

/// Prints `mcpi: <message>` on stderr, even with `--quiet`: how a run that
/// was stopped ended.
pub(crate) fn notice(message: &str) {
    let _ = print_to(
        &mut std::io::stderr(),
        &format!("mcpi: {}", readable(message)),
    );
}

/// Longer words than this in a message are echoed input (a 20 KB
/// `--targets`): [`readable`] cuts them.
const LONGEST_WORD: usize = 160;

/// `message` as one readable line, whatever input it echoes: control
/// characters (a newline in `MCPI_KERNEL`) escaped, and any word longer than
/// [`LONGEST_WORD`] characters cut to its start and end with its length.
pub(crate) fn readable(message: &str) -> String {
    let escaped: String = message
        .chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect();
    let words = escaped.split(' ').map(|word| {
        let n = word.chars().count();
        match n > LONGEST_WORD {
            true => {
                let head: String = word.chars().take(40).collect();
                let tail: String = word.chars().skip(n - 20).collect();
                format!("{head}…{tail} ({n} characters)")
            }
            false => word.to_string(),
        }
    });
    words.collect::<Vec<_>>().join(" ")
}

/// clap's multi-line error text as one line: the message and any value list,
/// without usage, tips and the pointer to `--help` (added back briefly).
pub(crate) fn one_line(rendered: &str) -> String {
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
pub(crate) fn command_line(args: impl Iterator<Item = std::ffi::OsString>) -> String {
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

/// Writes `text` and its newline in one write and flushes it, returning
/// the error instead of panicking (`mcpi | head` must not panic). One write:
/// stderr is unbuffered, and a line written as its text and then "\n" can be
/// split by another process's output where mpirun or Slurm merge streams.
/// Failures on stderr are ignored by the callers (there is nowhere left to
/// report them); [`print_to_stdout`] keeps its own.
pub(crate) fn print_to(stream: &mut dyn Write, text: &str) -> std::io::Result<()> {
    stream
        .write_all(format!("{text}\n").as_bytes())
        .and_then(|()| stream.flush())
}

/// The tutorial's `%px print(os.getpid())`: one `[stdout:k] PID` line per
/// targeted engine, in engine order.
pub(crate) fn stdout_lines(engines: &[EngineRow], targets: &[u32]) -> String {
    engines
        .iter()
        .filter(|e| targets.contains(&e.engine_id))
        .map(|e| format!("[stdout:{}] {}", e.engine_id, e.pid))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Engines listed one per line in the summary, at most.
const MAX_ENGINE_LINES: usize = 8;

/// Below this share of CPU time in the compute time, engines were descheduled.
const SHARED_CORES: f64 = 0.9;

/// The human summary (ipyparallel's `AsyncResult` attributes and more).
pub(crate) fn summary(record: &RunRecord) -> String {
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
    let how = match s.schedule.as_str() {
        "blocks" => "contiguous shares".to_string(),
        "cyclic" => "round-robin shares, for --precision".to_string(),
        "static" => "round robin, decided up front".to_string(),
        _ => format!("window {}", s.window),
    };
    line("schedule", format!("{} ({how})", s.schedule));
    line(
        "elapsed",
        format!(
            "{:.4} s  (controller wall time of the parallel section: the makespan)",
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
        "balance",
        format!(
            "imbalance {:.3} (busiest engine / mean - 1), {:.4} s lost (elapsed - busy per engine)",
            s.imbalance, s.balance_loss_s
        ),
    );
    let last = s.sessions.saturating_sub(1);
    let engines: Vec<&EngineRow> = record
        .engines
        .iter()
        .filter(|e| e.session == last && s.targets.contains(&e.engine_id))
        .collect();
    if engines.len() <= MAX_ENGINE_LINES {
        for e in engines {
            let slow = match e.slow {
                f if f > 1.0 => format!(", slowed {f}x"),
                _ => String::new(),
            };
            line(
                &format!("engine {}", e.engine_id),
                format!(
                    "{} chunks, busy {:.4} s, idle {:.4} s{slow}",
                    e.chunks, e.busy_s, e.idle_s
                ),
            );
        }
    }
    line(
        "samples",
        format!(
            "{} in {} chunks, seed {}, rng {}, kernel {}",
            s.samples, s.chunks, s.seed, s.rng, s.kernel
        ),
    );
    if let Some(p) = s.precision {
        let reached = Z95 * s.stderr;
        let why = match s.stopped_by.as_deref() {
            Some("precision") => "met",
            _ => "not met: the --samples cap was reached",
        };
        let discarded = s.chunks_done - s.chunks_used;
        line(
            "precision",
            format!(
                "+-{reached:.3e} (asked +-{p:e}) {why}: chunks 0..{} used, {} points; \
                 {discarded} computed beyond them discarded",
                s.chunks_used, s.samples_used
            ),
        );
    }
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
pub(crate) fn ready_line(engines: usize, targets: &[u32]) -> String {
    let plural = if engines == 1 { "" } else { "s" };
    format!(
        "ready: {engines} engine{plural}, targets {}",
        id_list(targets)
    )
}

/// `0,1,2` for a list of ids.
pub(crate) fn id_list(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_reads_as_one_short_line() {
        let long = "7".repeat(10_000);
        let line = readable(&format!("--targets {long}: bad"));
        assert_eq!(
            line,
            format!(
                "--targets {}…{} (10001 characters) bad",
                "7".repeat(40),
                "7".repeat(19) + ":"
            )
        );
        assert_eq!(
            readable("MCPI_KERNEL=avx2\n is\tnot"),
            "MCPI_KERNEL=avx2\\n is\\tnot"
        );
        let path = format!("/{}/r.h5", "d".repeat(150));
        assert_eq!(readable(&path), path, "160 characters are kept whole");
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

    /// Counts the writes made to it.
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_is_one_write() {
        let mut stream = Writes(Vec::new());
        print_to(&mut stream, "mcpi: error: no").unwrap();
        print_to(&mut stream, "[stdout:0] 1\n[stdout:1] 2").unwrap();
        assert_eq!(
            stream.0,
            [&b"mcpi: error: no\n"[..], b"[stdout:0] 1\n[stdout:1] 2\n"]
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
