//! mcpi: Monte Carlo pi over MPI.
pub mod app;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod count;
pub mod h5;
pub mod kernel;
pub mod output;
pub mod plan;
pub mod record;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod slurm;
pub mod stats;
pub mod targets;
