//! Live progress on stderr: a bar on a terminal, a line per tenth elsewhere.

use super::report::print_to;
use crate::config::cli::ProgressMode;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

/// Live progress of balanced mode on stderr.
pub(crate) struct Progress {
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
    pub(crate) fn new(mode: ProgressMode, quiet: bool, total: u64, done: u64) -> Progress {
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

    /// `done` of the chunks are complete.
    pub(crate) fn update(&mut self, done: u64) {
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

    pub(crate) fn finish(&self) {
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
}
