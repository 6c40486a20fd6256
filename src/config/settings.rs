//! What only rank 0 needs: where the results go, what the console shows,
//! how often to checkpoint and how long to wait after a signal. Validated
//! once, apart from the [`Job`](super::Job) that every rank receives.

use super::cli::{Cli, ProgressMode};
use crate::store::checkpoint::Requested;
use crate::ui::report::Console;
use std::path::PathBuf;
use std::time::Duration;

/// Where a run's results go.
#[derive(Debug, PartialEq)]
pub(crate) enum Destination {
    /// A fresh name under `results/` (see [`crate::store::output::reserve_default`]).
    Default,
    /// `--output PATH`.
    File(PathBuf),
    /// `--resume FILE`: complete the run saved in FILE; the options given
    /// must agree with it.
    Resume {
        checkpoint: PathBuf,
        requested: Requested,
    },
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) destination: Destination,
    /// `--force`: replace an existing results file.
    pub(crate) force: bool,
    pub(crate) console: Console,
    pub(crate) progress: ProgressMode,
    pub(crate) checkpoint_every: Duration,
    pub(crate) grace: Duration,
}

impl Settings {
    pub(crate) fn from_cli(cli: &Cli) -> Settings {
        let destination = match (&cli.resume, &cli.output) {
            (Some(checkpoint), _) => Destination::Resume {
                checkpoint: checkpoint.clone(),
                requested: Requested {
                    samples: cli.samples,
                    chunks: cli.chunks,
                    seed: cli.seed,
                    precision: cli.precision,
                },
            },
            (None, Some(path)) => Destination::File(path.clone()),
            (None, None) => Destination::Default,
        };
        Settings {
            destination,
            force: cli.force,
            console: Console {
                json: cli.json,
                quiet: cli.quiet,
            },
            progress: cli.progress,
            checkpoint_every: cli.checkpoint_every,
            grace: cli.grace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cli::tests::parse;

    #[test]
    fn the_destination_follows_output_and_resume() {
        let settings = |args: &[&str]| Settings::from_cli(&parse(args).unwrap());
        assert_eq!(settings(&[]).destination, Destination::Default);
        assert_eq!(
            settings(&["-o", "x.h5"]).destination,
            Destination::File("x.h5".into())
        );
        let resume = settings(&["--resume", "x.partial.h5", "--seed", "3", "--force"]);
        assert!(resume.force);
        assert_eq!(
            resume.destination,
            Destination::Resume {
                checkpoint: "x.partial.h5".into(),
                requested: Requested {
                    seed: Some(3),
                    ..Requested::default()
                }
            }
        );
    }

    #[test]
    fn console_cadence_and_grace_come_from_their_options() {
        let s = Settings::from_cli(
            &parse(&["--json", "-q", "--checkpoint-every", "0.5", "--grace", "2"]).unwrap(),
        );
        assert!(s.console.json && s.console.quiet);
        assert_eq!(s.checkpoint_every, Duration::from_millis(500));
        assert_eq!(s.grace, Duration::from_secs(2));
        assert_eq!(s.progress, ProgressMode::Auto);
    }
}
