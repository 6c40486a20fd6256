//! Measuring the model's costs on this machine: the real transport's
//! messages between two ranks, and how long the waits of
//! [`crate::run::pace`] really last. The per-sample rate and the fixed cost
//! of a chunk come from mcpi itself (scripts/model-calibrate.sh).

use crate::mpi::{Links, World};
use crate::run::pace::{self, Pause};
use crate::run::transport::{ChunkResult, ControllerLink, EngineLink, Order, Report};
use crate::sys::clock::process_cpu_time;
use std::time::{Duration, Instant};

/// The real transport's costs between rank 0 and rank 1, seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Transport {
    /// Rank 0's time per order sent.
    pub send: f64,
    /// Rank 0's CPU per report received (probe and matched receive).
    pub recv: f64,
    /// Rank 0's CPU per poll that finds nothing.
    pub poll: f64,
    /// Half a round trip (order out, result back) less a send and a
    /// receive: the one-way latency.
    pub latency: f64,
}

/// Messages per measurement.
const MESSAGES: u64 = 20_000;
/// Round trips of the ping-pong.
const ROUND_TRIPS: u64 = 5_000;

fn result(chunk: u64) -> Report {
    Report::Results(vec![ChunkResult {
        chunk_id: chunk,
        ..ChunkResult::default()
    }])
}

/// Measures the transport between ranks 0 and 1 of a world of 2 (every rank
/// calls this); `Some` on rank 0, `None` elsewhere or when MPI is already
/// initialised.
pub fn calibrate_mpi() -> Option<Transport> {
    let world = World::init()?;
    assert_eq!(world.size(), 2, "calibrate with mpirun -n 2");
    let nodes = world.nodes();
    let links = world.links(&nodes, false);
    if let Links::Controller(mut link) = links {
        // Reports that are all there before rank 0 looks: the cost of
        // taking one, without waiting.
        world.barrier();
        let cpu = process_cpu_time();
        for _ in 0..MESSAGES {
            while link.try_recv().is_none() {}
        }
        let recv = per(process_cpu_time() - cpu, MESSAGES);
        // Polls that find nothing.
        let cpu = process_cpu_time();
        for _ in 0..MESSAGES {
            assert!(link.try_recv().is_none());
        }
        let poll = per(process_cpu_time() - cpu, MESSAGES);
        // Orders out, as fast as they go.
        world.barrier();
        let send = median(MESSAGES, |chunk| link.send(0, task(chunk)));
        // Ping-pong: an order, its result.
        world.barrier();
        let round_trip = median(ROUND_TRIPS, |chunk| {
            link.send(0, task(chunk));
            while link.try_recv().is_none() {}
        });
        link.send(0, Order::Stop);
        world.barrier();
        let latency = (round_trip / 2.0 - send - recv).max(0.0);
        Some(Transport {
            send,
            recv,
            poll,
            latency,
        })
    } else if let Links::Engine(mut link) = links {
        for chunk in 0..MESSAGES {
            link.send(result(chunk));
        }
        world.barrier();
        world.barrier();
        for _ in 0..MESSAGES {
            while link.try_recv().is_none() {}
        }
        world.barrier();
        while let Some(Order::Tasks { first, .. }) = wait(&mut link) {
            link.send(result(first));
        }
        world.barrier();
        None
    } else {
        unreachable!("flat links on 2 ranks: rank 0 controls, rank 1 is an engine")
    }
}

fn task(chunk: u64) -> Order {
    Order::Tasks {
        first: chunk,
        count: 1,
    }
}

fn wait(link: &mut impl EngineLink) -> Option<Order> {
    loop {
        if let Some(order) = link.try_recv() {
            return Some(order);
        }
    }
}

/// The median over batches of [`BATCH`] of the time `n` calls of `f` take,
/// per call: other processes that share the cores make the mean a measure
/// of them.
fn median(n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut times: Vec<f64> = (0..n / BATCH)
        .map(|b| {
            let began = Instant::now();
            for i in b * BATCH..(b + 1) * BATCH {
                f(i);
            }
            per(began.elapsed(), BATCH)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

const BATCH: u64 = 100;

fn per(total: Duration, n: u64) -> f64 {
    total.as_secs_f64() / n as f64
}

/// How much longer than asked a sleep of the controller's backoff lasts
/// (the mean over sleeps of 20 µs to 1 ms), and how long a yield lasts,
/// seconds, with this thread's timer slack set as mcpi sets it.
pub fn calibrate_pacing() -> (f64, f64) {
    pace::precise_sleeps();
    let mut over = Vec::new();
    for micros in [20u64, 40, 80, 160, 320, 640, 1000] {
        let asked = Duration::from_micros(micros);
        let n = 200_000 / (micros + 50);
        let began = Instant::now();
        for _ in 0..n {
            pace::wait(Pause::Sleep(asked));
        }
        over.push(per(began.elapsed(), n) - asked.as_secs_f64());
    }
    let overshoot = over.iter().sum::<f64>() / over.len() as f64;
    let n = 20_000;
    let began = Instant::now();
    for _ in 0..n {
        pace::wait(Pause::Yield);
    }
    (overshoot, per(began.elapsed(), n))
}
