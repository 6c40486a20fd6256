//! mcpi: Monte Carlo pi over MPI.
//!
//! The binary is [`app`]; everything else is organised by concern:
//! [`config`] (what the user asked for), [`kernel`] (sampling and random
//! streams), [`run`] (the MPI-free run engine and its transport seam),
//! [`mpi`] (MPI and only MPI), [`record`] (the result schema), [`store`]
//! (files: HDF5, claims, checkpoints), [`ui`] (what a person sees) and
//! [`sys`] (signals, clocks, Slurm). The public modules are what the tests
//! and benchmarks use; the rest is private to the crate.

pub mod app;
pub(crate) mod config;
pub mod kernel;
pub mod model;
pub(crate) mod mpi;
pub mod record;
pub mod run;
pub mod store;
pub(crate) mod sys;
#[cfg(test)]
pub(crate) mod testing;
pub(crate) mod ui;
