//! The model against cases whose answer is known exactly.

use super::*;

const RATE: f64 = 1e6;

fn scenario(engines: usize, samples: u64, chunks: u64, dispatch: Dispatch) -> Scenario {
    Scenario {
        engines,
        samples,
        chunks,
        window: 4,
        dispatch,
    }
}

fn chunk_time(samples: u64) -> Duration {
    Duration::from_secs_f64(samples as f64 / RATE)
}

#[test]
fn one_engine_at_no_cost_takes_the_sum_of_its_chunk_times() {
    // Uneven chunks: 101 samples for the first three, 100 for the rest.
    let s = scenario(1, 1003, 10, Dispatch::Flat);
    let got = predict(&Params::ideal(RATE), &s);
    let sum: Duration = (0..10)
        .map(|c| chunk_time(s.job().plan().chunk_len(c)))
        .sum();
    assert_eq!(got.elapsed, sum);
    assert_eq!(got.busy, sum);
    assert_eq!(got.controller_cpu, Duration::ZERO);
    // Results come several per message (about half a window: 2 of 4),
    // then a goodbye.
    assert_eq!(got.received, 7 + 1);
}

#[test]
fn equal_chunks_balance_perfectly_however_they_are_dispatched() {
    let chunk = chunk_time(1000);
    for dispatch in [
        Dispatch::Flat,
        Dispatch::Direct,
        Dispatch::Node { per_node: 4 },
    ] {
        let s = scenario(8, 8 * 5 * 1000, 8 * 5, dispatch);
        let got = predict(&Params::ideal(RATE), &s);
        assert_eq!(got.elapsed, chunk * 5, "{dispatch:?}");
        assert!(
            (got.efficiency - 1.0).abs() < 1e-12,
            "{dispatch:?}: {got:?}"
        );
    }
}

#[test]
fn when_receiving_dominates_rank_0_handles_one_message_per_receive_cost() {
    let cost = Duration::from_micros(10);
    let params = Params {
        ctl_recv: cost.as_secs_f64(),
        ..Params::ideal(1e15)
    };
    // One-sample chunks take no time at all at this rate.
    let s = scenario(2, 1000, 1000, Dispatch::Flat);
    let got = predict(&params, &s);
    // Rank 0 never waits: it receives the results messages back to back,
    // and then the two goodbyes.
    let results = got.received as u32 - 2;
    assert!(results < 1000 / 4, "{results} messages for 1000 chunks");
    assert_eq!(got.elapsed, cost * results);
    assert_eq!(got.controller_cpu, got.elapsed + cost * 2);
}

#[test]
fn waits_paced_by_the_real_backoff_cost_time_that_exact_ones_do_not() {
    let paced = Params {
        pacing: Pacing::Backoff {
            overshoot: 20e-6,
            yield_s: 1e-6,
        },
        ..Params::ideal(RATE)
    };
    // One chunk in flight at a time: every round trip waits on a poll.
    let s = Scenario {
        window: 1,
        ..scenario(1, 100 * 1000, 100, Dispatch::Flat)
    };
    let exact = predict(&Params::ideal(RATE), &s).elapsed;
    let slower = predict(&paced, &s).elapsed;
    assert_eq!(exact, chunk_time(1000) * 100);
    assert!(slower > exact, "{slower:?} vs {exact:?}");
}

#[test]
fn windows_widen_to_cover_a_round_trip_longer_than_their_first_time() {
    // 0.1 ms chunks and 5 ms each way: a round trip (10 ms) is longer than
    // a first window (pace::WINDOW_TIME, 4 ms), so windows that stayed at
    // that would leave each engine computing at most 4 ms in every 10 ms.
    let params = Params {
        latency: 5e-3,
        ..Params::ideal(RATE)
    };
    let s = scenario(4, 4 * 20_000 * 100, 4 * 20_000, Dispatch::Flat);
    let got = predict(&params, &s);
    assert!(got.efficiency > 0.8, "{got:?}");
}
