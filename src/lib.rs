//! mcpi: Monte Carlo pi over MPI.
pub mod clock;
pub mod count;
pub mod kernel;
pub mod plan;
pub mod rng;
pub mod schedule;
pub mod stats;
pub mod targets;
