//! What the user asked for: the command line, checked once on rank 0 and
//! split into the [`Job`] every rank receives and the [`Settings`] only rank
//! 0 needs.

pub(crate) mod cli;
pub(crate) mod count;
pub(crate) mod job;
pub(crate) mod settings;
pub(crate) mod targets;

pub(crate) use job::{Job, Mode};
pub(crate) use settings::{Destination, Settings};

/// Why the command line cannot make a job.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error(transparent)]
    Plan(#[from] crate::run::plan::PlanError),
    #[error(transparent)]
    Targets(#[from] targets::TargetsError),
}
