//! What the user asked for: the command line, checked once on rank 0 and
//! split into the [`Job`] every rank receives and the [`Settings`] only rank
//! 0 needs.

pub(crate) mod cli;
pub(crate) mod count;
pub(crate) mod job;
pub(crate) mod settings;
pub(crate) mod targets;

pub(crate) use job::{Dispatch, Job, Mode, Schedule, Split};
pub(crate) use settings::{Destination, Settings};

/// Why the command line cannot make a job.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(transparent)]
    Plan(#[from] crate::run::plan::PlanError),
    #[error(transparent)]
    Targets(#[from] targets::TargetsError),
    #[error(
        "--schedule {0} applies to balanced mode; direct mode splits the chunks among the engines up front"
    )]
    ScheduleInDirectMode(&'static str),
    #[error("--slow: engine {engine} does not exist ({})", describe_engines(*.engines))]
    NoSuchEngine { engine: u32, engines: usize },
}

/// "there are 3 engines, ids 0..2".
pub(crate) fn describe_engines(engines: usize) -> String {
    match engines {
        1 => "there is 1 engine, id 0".into(),
        n => format!("there are {n} engines, ids 0..{}", n - 1),
    }
}
