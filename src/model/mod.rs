//! A model of the controller at scale: a discrete-event simulation that runs
//! the real scheduling code ([`crate::run::controller::control`] and its
//! [`crate::run::dispatch::Dispatcher`], paced by the real
//! [`crate::run::pace::Backoff`]) through the transport seam, with a virtual
//! clock and engines that are events, not threads. One thread simulates
//! 10⁵ engines.
//!
//! What is real and what is modelled:
//! - real: the controller loop, the dispatcher and its window, the
//!   controller's backoff and sleep cap, the engines' backoff (it decides
//!   when an idle engine notices an order), the chunk plan;
//! - modelled ([`Params`], calibrated on a machine by
//!   `scripts/model-calibrate.sh`): rank 0's cost per message sent and
//!   received and per empty poll, charged to the virtual clock and to the
//!   controller's CPU; an engine's rate (samples/s) and fixed cost per
//!   chunk; an engine's cost per message; the one-way link latency; how long
//!   a sleep and a yield really take.
//!
//! Each rank has a core of its own: the model knows nothing of other
//! processes sharing the cores. The assumptions and the figures are in
//! docs/scale-model.md.

mod calibrate;
mod sim;
#[cfg(test)]
mod tests;

pub use calibrate::{calibrate_mpi, calibrate_pacing, Transport};

use crate::config::{Job, Mode, Schedule};
use crate::run::dispatch::DEFAULT_WINDOW;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a message, a poll, a sleep and a sample cost: the model's
/// calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Samples per second of one engine.
    pub rate: f64,
    /// Fixed cost of a chunk on an engine (timing, kernel set-up), seconds.
    pub chunk_fixed: f64,
    /// Rank 0's cost to send one message (an order), seconds.
    pub ctl_send: f64,
    /// Rank 0's cost to receive one report and record its chunk, seconds.
    pub ctl_recv: f64,
    /// Rank 0's cost of a poll that finds nothing, seconds.
    pub ctl_poll: f64,
    /// Rank 0's cost of one more result or order in a message that carries
    /// several (hierarchical dispatch), seconds.
    pub ctl_item: f64,
    /// An engine's cost to send a message or receive one, seconds.
    pub eng_msg: f64,
    /// One-way latency between rank 0 (or a node dispatcher) and what it
    /// talks to, seconds.
    pub latency: f64,
    /// One-way latency between a node dispatcher and its engines, seconds.
    pub local_latency: f64,
    /// How a waiting rank notices a message.
    pub pacing: Pacing,
}

/// How a waiting rank notices a message.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// At once: an ideal wait, for checking the model against exact cases.
    Exact,
    /// At its next poll as its real [`crate::run::pace::Backoff`] spaces
    /// them: a sleep of `d` lasts `d + overshoot`, a yield `yield_s`.
    Backoff { overshoot: f64, yield_s: f64 },
}

impl Params {
    /// Nothing costs anything; engines compute `rate` samples/s.
    pub fn ideal(rate: f64) -> Params {
        Params {
            rate,
            chunk_fixed: 0.0,
            ctl_send: 0.0,
            ctl_recv: 0.0,
            ctl_poll: 0.0,
            ctl_item: 0.0,
            eng_msg: 0.0,
            latency: 0.0,
            local_latency: 0.0,
            pacing: Pacing::Exact,
        }
    }
}

/// How chunks reach the engines.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dispatch {
    /// Balanced mode, dynamic schedule: rank 0 talks to every engine.
    Flat,
    /// Direct mode: a fixed split, rank 0 only collects.
    Direct,
    /// Balanced mode through a dispatcher per node of `per_node` engines:
    /// rank 0 runs the real controller over the nodes (each holding its
    /// engines' windows); the node dispatchers are modelled. A node sends
    /// rank 0 what its engines finished in one message, whose results after
    /// the first cost rank 0 `ctl_item` each.
    Node { per_node: usize },
}

/// One run to predict.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub engines: usize,
    pub samples: u64,
    pub chunks: u64,
    pub window: u32,
    pub dispatch: Dispatch,
}

impl Scenario {
    /// `chunks` chunks of `chunk_s` seconds each at `rate` samples/s.
    pub fn timed(
        engines: usize,
        chunks: u64,
        chunk_s: f64,
        rate: f64,
        dispatch: Dispatch,
    ) -> Scenario {
        let per_chunk = (chunk_s * rate).round().max(1.0) as u64;
        Scenario {
            engines,
            samples: per_chunk * chunks,
            chunks,
            window: DEFAULT_WINDOW as u32,
            dispatch,
        }
    }

    /// The job rank 0 runs: over the engines, or over the nodes.
    fn job(&self) -> Job {
        let mode = match self.dispatch {
            Dispatch::Flat | Dispatch::Node { .. } => Mode::Balanced,
            Dispatch::Direct => Mode::Direct,
        };
        Job {
            mode,
            samples: self.samples,
            chunks: self.chunks,
            seed: 0,
            targets: (0..self.engines as u32).collect(),
            window: self.window,
            schedule: Schedule::Dynamic,
            slow: Vec::new(),
            precision: None,
            kernel: None,
            todo: vec![[0, self.chunks]],
            // The model stands for the node level itself (`Dispatch::Node`).
            dispatch: crate::config::Dispatch::Flat,
        }
    }
}

/// What the model predicts for a run, with the figures mcpi reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Rank 0's elapsed time: start to the last result.
    pub elapsed: Duration,
    /// Rank 0's CPU time over it.
    pub controller_cpu: Duration,
    /// The engines' summed compute time (mcpi's `serial_s`).
    pub busy: Duration,
    /// `busy / (engines x elapsed)`, as mcpi computes it.
    pub efficiency: f64,
    /// Messages rank 0 received.
    pub received: u64,
}

/// Runs the real controller over simulated engines and predicts the run.
pub fn predict(params: &Params, scenario: &Scenario) -> Prediction {
    sim::run(params, scenario)
}
