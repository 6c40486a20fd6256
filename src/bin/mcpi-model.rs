//! mcpi-model: the controller at scale, simulated (docs/scale-model.md).
//!
//! - `mpirun -n 2 mcpi-model calibrate`: the transport's and the waits'
//!   costs on this machine, as JSON;
//! - `mcpi-model predict PARAMS --engines E --samples N --chunks K`: one
//!   run's prediction, as JSON (mcpi's figures: elapsed, efficiency, ...);
//! - `mcpi-model sweep PARAMS`: efficiency against engines, chunk time,
//!   latency and dispatch, as CSV.

use clap::{Parser, Subcommand};
use mcpi::model::{self, Dispatch, Params, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about = "A model of mcpi's controller at scale")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the transport (under `mpirun -n 2`) and the waits.
    Calibrate,
    /// Predict one run.
    Predict {
        /// The parameters, as JSON (scripts/model-calibrate.sh writes them).
        params: PathBuf,
        #[arg(long)]
        engines: usize,
        #[arg(long)]
        samples: f64,
        #[arg(long)]
        chunks: f64,
        #[arg(long, default_value_t = 4)]
        window: u32,
        /// flat, direct, or node:P (P engines per node).
        #[arg(long, default_value = "flat")]
        dispatch: String,
        /// One-way latency (seconds) instead of the calibrated one.
        #[arg(long)]
        latency: Option<f64>,
    },
    /// Efficiency over engines (1 to 1e5), chunk time (10 µs to 1 s),
    /// latency (0, 100 µs, 1 ms) and dispatch (flat, node).
    Sweep {
        params: PathBuf,
        /// Engines per node for node dispatch.
        #[arg(long, default_value_t = 64)]
        per_node: usize,
        /// Chunks per engine (at least 4 windows' worth in all).
        #[arg(long, default_value_t = 16)]
        per_engine: u64,
    },
}

fn dispatch(name: &str) -> Result<Dispatch, String> {
    match name.split_once(':') {
        None if name == "flat" => Ok(Dispatch::Flat),
        None if name == "direct" => Ok(Dispatch::Direct),
        Some(("node", p)) => match p.parse() {
            Ok(per_node) if per_node > 0 => Ok(Dispatch::Node { per_node }),
            _ => Err(format!(
                "node:{p}: engines per node must be a positive integer"
            )),
        },
        _ => Err(format!("--dispatch {name}: use flat, direct or node:P")),
    }
}

fn params(path: &PathBuf) -> Result<Params, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcpi-model: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Calibrate => {
            if let Some(t) = model::calibrate_mpi() {
                let (overshoot, yield_s) = model::calibrate_pacing();
                let json = serde_json::json!({
                    "send": t.send, "recv": t.recv, "poll": t.poll, "latency": t.latency,
                    "overshoot": overshoot, "yield": yield_s,
                });
                println!("{json}");
            }
        }
        Command::Predict {
            params: path,
            engines,
            samples,
            chunks,
            window,
            dispatch: how,
            latency,
        } => {
            let mut p = params(&path)?;
            p.latency = latency.unwrap_or(p.latency);
            let scenario = Scenario {
                engines,
                samples: samples as u64,
                chunks: chunks as u64,
                window,
                dispatch: dispatch(&how)?,
            };
            let got = model::predict(&p, &scenario);
            let json = serde_json::json!({
                "elapsed_s": got.elapsed.as_secs_f64(),
                "efficiency": got.efficiency,
                "controller_cpu_s": got.controller_cpu.as_secs_f64(),
                "serial_s": got.busy.as_secs_f64(),
                "messages_in": got.received,
            });
            println!("{json}");
        }
        Command::Sweep {
            params: path,
            per_node,
            per_engine,
        } => {
            let base = params(&path)?;
            println!("dispatch,latency_s,engines,chunk_s,chunks,elapsed_s,efficiency,controller_cpu_share");
            for (name, how) in [
                ("flat", Dispatch::Flat),
                ("node", Dispatch::Node { per_node }),
            ] {
                for latency in [0.0, 100e-6, 1e-3] {
                    for engines in [1usize, 10, 100, 1_000, 10_000, 100_000] {
                        for chunk_s in [10e-6, 100e-6, 1e-3, 10e-3, 100e-3, 1.0] {
                            let p = Params {
                                latency,
                                ..base.clone()
                            };
                            let chunks = (engines as u64 * per_engine).max(64);
                            let s = Scenario::timed(engines, chunks, chunk_s, p.rate, how);
                            let got = model::predict(&p, &s);
                            let elapsed = got.elapsed.as_secs_f64();
                            let cpu = got.controller_cpu.as_secs_f64() / elapsed;
                            println!(
                                "{name},{latency},{engines},{chunk_s},{chunks},{elapsed:.6},{:.5},{cpu:.4}",
                                got.efficiency
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
