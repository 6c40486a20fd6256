//! What mcpi takes from the operating system: signals, clocks, and the Slurm
//! job it runs in.

pub(crate) mod clock;
pub(crate) mod process;
pub(crate) mod signals;
pub(crate) mod slurm;
