//! What a person sees.

pub(crate) mod progress;
pub(crate) mod report;
