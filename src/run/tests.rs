//! The real controller, engine and one-rank loops, run in memory: any number
//! of engines on threads, signals raised on any rank, engines slow or stuck.

use super::alone::run_alone;
use super::controller::control;
use super::engine::serve;
use super::memory::{network_of, Cluster, TestAlarm};
use super::pace;
use super::relay::relay;
use super::transport::ChunkResult;
use super::Flow;
use super::{compute, News, Outcome};
use crate::config::{Dispatch, Job, Mode, Schedule};
use crate::kernel::Kernel;
use crate::record::ChunkRow;
use crate::sys::clock::WallClock;
use std::collections::BTreeSet;
use std::time::Duration;

const SIGINT: i32 = libc::SIGINT;
const SIGTERM: i32 = libc::SIGTERM;
const SIGUSR1: i32 = libc::SIGUSR1;

fn job(mode: Mode, chunks: u64, targets: &[u32], window: u32) -> Job {
    Job {
        mode,
        samples: chunks * 1000,
        chunks,
        seed: 7,
        targets: targets.to_vec(),
        window,
        schedule: Schedule::Dynamic,
        dispatch: Dispatch::Flat,
        slow: Vec::new(),
        precision: None,
        kernel: None,
        todo: vec![[0, chunks]],
    }
}

fn all(engines: u32) -> Vec<u32> {
    (0..engines).collect()
}

/// The real sampling kernel: counts that can be checked against a serial run.
fn kernel_work(job: &Job) -> impl Fn(usize, u64) -> ChunkResult + Sync + '_ {
    move |_, chunk| compute(job, Kernel::Scalar, chunk)
}

/// The inside count of every chunk, computed serially.
fn serial_inside(job: &Job) -> u64 {
    (0..job.chunks)
        .map(|c| compute(job, Kernel::Scalar, c).inside)
        .sum()
}

/// A session over `engines` engines with `work`; returns the outcome and
/// the chunk rows the controller reported, in arrival order.
fn session(
    job: &Job,
    engines: usize,
    work: &(dyn Fn(usize, u64) -> ChunkResult + Sync),
) -> (Outcome, Vec<ChunkRow>) {
    let cluster = Cluster {
        job,
        grace: Duration::from_secs(30),
        work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); engines],
    };
    let mut rows = Vec::new();
    let outcome = cluster.run_all(&mut |news| {
        if let News::Chunk(row) = news {
            rows.push(row);
        }
    });
    (outcome, rows)
}

/// Checks that `rows` hold each chunk at most once, and returns their ids.
fn chunk_ids(rows: &[ChunkRow]) -> BTreeSet<u64> {
    let ids: BTreeSet<u64> = rows.iter().map(|r| r.chunk_id).collect();
    assert_eq!(ids.len(), rows.len(), "a chunk was reported twice");
    ids
}

/// Chunk ids per engine, in the order they came in.
fn per_engine(rows: &[ChunkRow], engines: usize) -> Vec<Vec<u64>> {
    let mut by = vec![Vec::new(); engines];
    for r in rows {
        by[r.engine_id as usize].push(r.chunk_id);
    }
    by
}

/// The most chunks an engine held at once, as the controller saw it: chunks
/// handed out and not yet back when one of them was handed out.
fn most_in_flight(rows: &[ChunkRow], engine: u32) -> usize {
    let mine: Vec<&ChunkRow> = rows.iter().filter(|r| r.engine_id == engine).collect();
    mine.iter()
        .map(|c| {
            mine.iter()
                .filter(|o| o.dispatch_s <= c.dispatch_s && c.dispatch_s < o.done_s)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Sleeps `d` before computing: a chunk that takes at least that long.
fn slow(job: &Job, d: Duration, chunk: u64) -> ChunkResult {
    std::thread::sleep(d);
    let mut r = compute(job, Kernel::Scalar, chunk);
    r.compute_s += d.as_secs_f64();
    r
}

#[test]
fn balanced_engines_get_their_window_filled_and_never_more() {
    // (A window of one leaves an engine waiting for the controller after
    // each chunk, which widens it: see pace::PeerPace.)
    for window in [2, 4] {
        let job = job(Mode::Balanced, 120, &all(3), window);
        // Long enough not to widen the window (see pace::window).
        let work = |_: usize, chunk| slow(&job, pace::WINDOW_TIME, chunk);
        let (outcome, rows) = session(&job, 3, &work);
        assert_eq!(outcome.signal, None);
        assert!(outcome.stranded.is_empty());
        assert_eq!(chunk_ids(&rows).len(), 120);
        for engine in 0..3 {
            assert_eq!(
                most_in_flight(&rows, engine),
                window as usize,
                "engine {engine}, window {window}"
            );
        }
        // The first handouts go round robin, one window deep.
        let first: Vec<(u64, u32)> = {
            let mut by_dispatch = rows.clone();
            by_dispatch.sort_by(|a, b| {
                (a.dispatch_s.total_cmp(&b.dispatch_s)).then(a.chunk_id.cmp(&b.chunk_id))
            });
            by_dispatch
                .iter()
                .take(3)
                .map(|r| (r.chunk_id, r.engine_id))
                .collect()
        };
        assert_eq!(first, [(0, 0), (1, 1), (2, 2)]);
    }
}

#[test]
fn short_chunks_widen_the_window_and_come_back_several_per_message() {
    // One point per chunk: far shorter than --window chunks can cover.
    let job = Job {
        samples: 3000,
        ..job(Mode::Balanced, 3000, &all(2), 4)
    };
    let work = kernel_work(&job);
    let (outcome, rows) = session(&job, 2, &work);
    assert!(outcome.stranded.is_empty());
    assert_eq!(chunk_ids(&rows).len(), 3000);
    assert_eq!(
        rows.iter().map(|r| r.inside).sum::<u64>(),
        serial_inside(&job)
    );
    let widest = (0..2).map(|e| most_in_flight(&rows, e)).max().unwrap();
    assert!(widest > 4, "at most {widest} in flight");
    // Rows that arrived in one message share their engine and arrival time.
    let mut messages = BTreeSet::new();
    for r in &rows {
        messages.insert((r.engine_id, r.done_s.to_bits()));
    }
    assert!(
        messages.len() < rows.len() / 2,
        "{} messages",
        messages.len()
    );
}

/// A session over two nodes of two engines each, dispatched by node: engines
/// 0 and 2 dispatch for their nodes (to 1 and 3) and compute too.
fn by_node(job: &Job, work: &(dyn Fn(usize, u64) -> ChunkResult + Sync)) -> Vec<ChunkRow> {
    let (mut top, relays) = network_of(vec![vec![0, 1], vec![2, 3]]);
    let todo = job.todo();
    let mut rows = Vec::new();
    let outcome = std::thread::scope(|scope| {
        for (mut up, me) in relays.into_iter().zip([0u32, 2]) {
            let (todo, job) = (&todo, job);
            scope.spawn(move || {
                let (mut down, ends) = network_of(vec![vec![me + 1]]);
                std::thread::scope(|inner| {
                    for mut end in ends {
                        inner.spawn(move || {
                            let work = &mut |chunk| work(me as usize + 1, chunk);
                            let (clock, alarm) = (&mut WallClock::new(), &TestAlarm::default());
                            serve(&mut end, clock, alarm, job, me + 1, todo, work);
                        });
                    }
                    let work = &mut |chunk| work(me as usize, chunk);
                    let (clock, alarm) = (&mut WallClock::new(), &TestAlarm::default());
                    relay(&mut up, &mut down, clock, alarm, job, me, todo, work);
                });
            });
        }
        let (clock, alarm) = (&mut WallClock::new(), &TestAlarm::default());
        let grace = Duration::from_secs(30);
        control(&mut top, clock, alarm, job, &todo, grace, &mut |news| {
            if let News::Chunk(row) = news {
                rows.push(row);
            }
            Flow::Continue
        })
    });
    assert!(outcome.stranded.is_empty());
    assert_eq!(outcome.signal, None);
    rows
}

#[test]
fn node_dispatch_feeds_every_engine_and_gives_the_same_counts() {
    for (mode, schedule, samples) in [
        (Mode::Balanced, Schedule::Dynamic, 300_000),
        (Mode::Balanced, Schedule::Guided, 300_000),
        // One point per chunk: windows widen, results come in batches.
        (Mode::Balanced, Schedule::Dynamic, 300),
        (Mode::Direct, Schedule::Dynamic, 300_000),
    ] {
        let job = Job {
            samples,
            schedule,
            dispatch: Dispatch::Node,
            ..job(mode, 300, &all(4), 2)
        };
        let what = format!("{mode:?} {schedule:?} {samples}");
        let rows = by_node(&job, &kernel_work(&job));
        assert_eq!(chunk_ids(&rows).len(), 300, "{what}");
        let inside: u64 = rows.iter().map(|r| r.inside).sum();
        assert_eq!(inside, serial_inside(&job), "{what}");
        for (e, chunks) in per_engine(&rows, 4).iter().enumerate() {
            assert!(!chunks.is_empty(), "{what}: engine {e} computed nothing");
        }
    }
    // An engine left out of --targets gets nothing behind its dispatcher.
    let job = Job {
        dispatch: Dispatch::Node,
        ..job(Mode::Balanced, 100, &[0, 2, 3], 2)
    };
    let rows = by_node(&job, &kernel_work(&job));
    assert_eq!(chunk_ids(&rows).len(), 100);
    assert!(per_engine(&rows, 4)[1].is_empty());
}

#[test]
fn direct_mode_gives_each_engine_its_contiguous_share() {
    let job = job(Mode::Direct, 10, &all(3), 4);
    let work = kernel_work(&job);
    let (outcome, rows) = session(&job, 3, &work);
    assert!(outcome.stranded.is_empty());
    assert_eq!(
        per_engine(&rows, 3),
        [vec![0, 1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]
    );
    let inside: u64 = rows.iter().map(|r| r.inside).sum();
    assert_eq!(inside, serial_inside(&job));
}

#[test]
fn more_engines_than_chunks_leaves_some_without_work_and_all_say_goodbye() {
    for mode in [Mode::Balanced, Mode::Direct] {
        let job = job(mode, 3, &all(5), 4);
        let work = kernel_work(&job);
        let (outcome, rows) = session(&job, 5, &work);
        assert!(outcome.stranded.is_empty(), "{mode:?}");
        assert_eq!(chunk_ids(&rows), BTreeSet::from([0, 1, 2]), "{mode:?}");
        let busy = per_engine(&rows, 5)
            .iter()
            .filter(|c| !c.is_empty())
            .count();
        assert_eq!(busy, 3, "{mode:?}: one chunk each for three engines");
    }
}

#[test]
fn sixty_four_engines_give_the_serial_count_in_every_mode() {
    let expected = serial_inside(&job(Mode::Balanced, 1000, &[], 1));
    for (mode, window) in [(Mode::Balanced, 1), (Mode::Balanced, 64), (Mode::Direct, 4)] {
        let job = job(mode, 1000, &all(64), window);
        let work = kernel_work(&job);
        let (outcome, rows) = session(&job, 64, &work);
        assert!(outcome.stranded.is_empty());
        assert_eq!(chunk_ids(&rows).len(), 1000);
        assert_eq!(rows.iter().map(|r| r.inside).sum::<u64>(), expected);
    }
}

#[test]
fn an_idle_engine_computes_nothing_and_still_says_goodbye() {
    for mode in [Mode::Balanced, Mode::Direct] {
        let job = job(mode, 30, &[0, 2], 2);
        let work = kernel_work(&job);
        let (outcome, rows) = session(&job, 3, &work);
        assert!(outcome.stranded.is_empty(), "{mode:?}");
        assert_eq!(chunk_ids(&rows).len(), 30);
        assert!(per_engine(&rows, 3)[1].is_empty(), "{mode:?}");
    }
}

#[test]
fn a_slow_engine_gets_fewer_chunks_in_balanced_mode_but_its_share_in_direct_mode() {
    let work = |job: &Job, engine: usize, chunk| {
        let per_chunk = if engine == 0 { 20_000 } else { 200 };
        slow(job, Duration::from_micros(per_chunk), chunk)
    };
    let balanced = job(Mode::Balanced, 60, &all(2), 2);
    let (_, rows) = session(&balanced, 2, &|e, c| work(&balanced, e, c));
    let counts: Vec<usize> = per_engine(&rows, 2).iter().map(Vec::len).collect();
    assert!(
        counts[1] >= 3 * counts[0],
        "the fast engine should take most chunks: {counts:?}"
    );
    let direct = job(Mode::Direct, 60, &all(2), 2);
    let (_, rows) = session(&direct, 2, &|e, c| work(&direct, e, c));
    let counts: Vec<usize> = per_engine(&rows, 2).iter().map(Vec::len).collect();
    assert_eq!(counts, [30, 30]);
}

/// A cluster whose controller or engine `who` gets `signal` once `after`
/// chunks have come in; engines take 5 ms a chunk.
fn interrupted(mode: Mode, who: Option<usize>, signal: i32, after: usize) {
    let job = job(mode, 200, &all(3), 4);
    let work = |_: usize, chunk| slow(&job, Duration::from_millis(5), chunk);
    let cluster = Cluster {
        job: &job,
        grace: Duration::from_secs(30),
        work: &work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); 3],
    };
    let mut rows = Vec::new();
    let outcome = cluster.run_all(&mut |news| {
        if let News::Chunk(row) = news {
            rows.push(row);
            if rows.len() == after {
                match who {
                    None => cluster.controller.raise(signal),
                    Some(engine) => cluster.engines[engine].raise(signal),
                }
            }
        }
    });
    let what = format!("{mode:?}, signal at {who:?}");
    assert_eq!(outcome.signal, Some(signal), "{what}");
    assert!(
        outcome.stranded.is_empty(),
        "{what}: every engine said goodbye"
    );
    let done = chunk_ids(&rows).len();
    assert!((after..200).contains(&done), "{what}: {done} chunks");
    if (mode, who) == (Mode::Balanced, None) {
        // The chunks being computed were still collected, the queued ones
        // dropped: at most a window per engine came in after the signal.
        assert!(done <= after + 3 * 4, "{what}: {done} chunks");
    }
    for (rank, alarm) in std::iter::once(&cluster.controller)
        .chain(&cluster.engines)
        .enumerate()
    {
        use super::transport::Alarm;
        assert_eq!(alarm.caught(), Some(signal), "{what}: rank {rank}");
    }
}

#[test]
fn a_signal_on_the_controller_cancels_every_engine() {
    interrupted(Mode::Balanced, None, SIGTERM, 5);
    interrupted(Mode::Direct, None, SIGINT, 5);
}

#[test]
fn a_signal_on_one_engine_halts_the_controller_and_every_engine() {
    interrupted(Mode::Balanced, Some(1), SIGUSR1, 7);
    interrupted(Mode::Direct, Some(2), SIGTERM, 7);
}

/// Balanced mode, two engines: engine 0's chunks take 2 s, engine 1's 5 ms
/// (long enough not to widen its window, see pace::window). Once three
/// chunks are in, the controller is signalled `signals` times. Returns the
/// outcome and the chunks that came in.
fn straggler_signalled(grace: Duration, signals: usize) -> (Outcome, usize) {
    let job = job(Mode::Balanced, 20, &all(2), 1);
    let work = |engine: usize, chunk| {
        let d = if engine == 0 { 2000 } else { 5 };
        slow(&job, Duration::from_millis(d), chunk)
    };
    let cluster = Cluster {
        job: &job,
        grace,
        work: &work,
        controller: TestAlarm::default(),
        engines: vec![TestAlarm::default(); 2],
    };
    let mut seen = 0;
    let outcome = cluster.run_all(&mut |news| {
        if matches!(news, News::Chunk(_)) {
            seen += 1;
            if seen == 3 {
                for _ in 0..signals {
                    cluster.controller.raise(SIGTERM);
                }
            }
        }
    });
    (outcome, seen)
}

#[test]
fn engines_still_computing_after_the_grace_time_are_stranded() {
    // Engine 0's chunks take ten times the grace time.
    let grace = Duration::from_millis(200);
    let (outcome, seen) = straggler_signalled(grace, 1);
    assert_eq!(outcome.signal, Some(SIGTERM));
    assert_eq!(outcome.stranded, [0], "engine 0 is still computing");
    assert_eq!(seen, 3, "only engine 1's chunks came in");
    // The controller gave up at the grace time after the signal (the
    // deadline bounds its elapsed time from below), before engine 0's chunk
    // ended.
    let waited = outcome.elapsed;
    assert!(waited >= grace, "waited {waited:?}");
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
}

#[test]
fn a_second_signal_gives_the_engines_still_computing_up_at_once() {
    // The grace time is far longer than engine 0's chunks.
    let (outcome, _) = straggler_signalled(Duration::from_secs(600), 2);
    assert_eq!(outcome.signal, Some(SIGTERM));
    assert!(outcome.hurried);
    // Engine 1 may not have said goodbye yet either: nobody waits for it.
    assert!(outcome.stranded.contains(&0), "engine 0 is still computing");
    assert!(
        outcome.elapsed < Duration::from_secs(2),
        "{:?}",
        outcome.elapsed
    );
}

#[test]
fn a_signal_on_an_idle_engine_stops_the_run() {
    // Engine 2 takes no part: in balanced mode it is not targeted, in direct
    // mode its share is empty. It waits for the end of the run all the same,
    // and relays the signal it catches.
    for mode in [Mode::Balanced, Mode::Direct] {
        let job = job(mode, 200, &[0, 1], 4);
        let work = |_: usize, chunk| slow(&job, Duration::from_millis(5), chunk);
        let cluster = Cluster {
            job: &job,
            grace: Duration::from_secs(30),
            work: &work,
            controller: TestAlarm::default(),
            engines: vec![TestAlarm::default(); 3],
        };
        let mut rows = 0;
        let outcome = cluster.run_all(&mut |news| {
            if matches!(news, News::Chunk(_)) {
                rows += 1;
                if rows == 5 {
                    cluster.engines[2].raise(SIGTERM);
                }
            }
        });
        assert_eq!(outcome.signal, Some(SIGTERM), "{mode:?}");
        assert!(outcome.stranded.is_empty(), "{mode:?}");
        assert!(rows < 200, "{mode:?}: {rows} chunks");
    }
}

#[test]
fn one_rank_alone_computes_every_chunk_in_order_and_stops_between_chunks() {
    let job = job(Mode::Balanced, 50, &[0], 4);
    let alarm = TestAlarm::default();
    let mut rows = Vec::new();
    let work = &mut |chunk| Some(compute(&job, Kernel::Scalar, chunk));
    let outcome = run_alone(
        &mut WallClock::new(),
        &alarm,
        &job,
        &job.todo(),
        work,
        &mut |news| {
            if let News::Chunk(row) = news {
                rows.push(row);
            }
            Flow::Continue
        },
    );
    assert_eq!(outcome.signal, None);
    let ids: Vec<u64> = rows.iter().map(|r| r.chunk_id).collect();
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    assert_eq!(
        rows.iter().map(|r| r.inside).sum::<u64>(),
        serial_inside(&job)
    );

    let mut rows = 0;
    let outcome = run_alone(
        &mut WallClock::new(),
        &alarm,
        &job,
        &job.todo(),
        &mut |chunk| Some(compute(&job, Kernel::Scalar, chunk)),
        &mut |news| {
            if matches!(news, News::Chunk(_)) {
                rows += 1;
                if rows == 10 {
                    alarm.raise(SIGTERM);
                }
            }
            Flow::Continue
        },
    );
    assert_eq!((outcome.signal, rows), (Some(SIGTERM), 10));
    assert!(!outcome.hurried);
}

#[test]
fn one_rank_alone_gives_up_its_chunk_on_a_second_signal() {
    // The chunk being computed when the second signal comes is given up
    // (work's None): the session ends at once, without it.
    let job = job(Mode::Balanced, 50, &[0], 4);
    let alarm = TestAlarm::default();
    let mut rows = 0;
    let outcome = run_alone(
        &mut WallClock::new(),
        &alarm,
        &job,
        &job.todo(),
        &mut |chunk| {
            if chunk == 7 {
                alarm.raise(SIGINT);
                alarm.raise(SIGINT);
                return None;
            }
            Some(compute(&job, Kernel::Scalar, chunk))
        },
        &mut |news| {
            rows += usize::from(matches!(news, News::Chunk(_)));
            Flow::Continue
        },
    );
    assert_eq!(
        (outcome.signal, outcome.hurried, rows),
        (Some(SIGINT), true, 7)
    );
}

#[test]
fn a_resumed_session_computes_exactly_the_missing_chunks() {
    for mode in [Mode::Balanced, Mode::Direct] {
        let mut job = job(mode, 40, &all(3), 2);
        let missing: Vec<u64> = (0..40).filter(|c| c % 3 != 1).collect();
        job.set_todo(&missing);
        let work = kernel_work(&job);
        let (outcome, rows) = session(&job, 3, &work);
        assert!(outcome.stranded.is_empty());
        let ids: Vec<u64> = chunk_ids(&rows).into_iter().collect();
        assert_eq!(ids, missing, "{mode:?}");
    }
}

fn scheduled(schedule: Schedule, chunks: u64, engines: u32, window: u32) -> Job {
    Job {
        schedule,
        ..job(Mode::Balanced, chunks, &all(engines), window)
    }
}

#[test]
fn guided_batches_start_big_and_every_chunk_comes_once() {
    let job = scheduled(Schedule::Guided, 200, 2, 1);
    let work = |_: usize, chunk| slow(&job, Duration::from_micros(100), chunk);
    let (outcome, rows) = session(&job, 2, &work);
    assert!(outcome.stranded.is_empty());
    assert_eq!(chunk_ids(&rows).len(), 200);
    assert_eq!(
        rows.iter().map(|r| r.inside).sum::<u64>(),
        serial_inside(&job)
    );
    // The first batches: 200 / 4 = 50 chunks, then 150 / 4 = 37.
    let by = per_engine(&rows, 2);
    assert_eq!(by[0][..50], (0..50).collect::<Vec<_>>());
    assert_eq!(by[1][..37], (50..87).collect::<Vec<_>>());
}

#[test]
fn a_static_schedule_deals_the_chunks_round_robin_up_front() {
    let job = Job {
        targets: vec![0, 2],
        ..scheduled(Schedule::Static, 11, 3, 4)
    };
    let work = kernel_work(&job);
    let (outcome, rows) = session(&job, 3, &work);
    assert!(outcome.stranded.is_empty());
    assert_eq!(
        per_engine(&rows, 3),
        [vec![0, 2, 4, 6, 8, 10], vec![], vec![1, 3, 5, 7, 9]]
    );
}

#[test]
fn a_straggler_takes_its_factor_longer_and_balanced_mode_works_around_it() {
    for mode in [Mode::Balanced, Mode::Direct] {
        let job = Job {
            slow: vec![4.0, 1.0],
            ..job(mode, 40, &all(2), 1)
        };
        let work = |_: usize, chunk| slow(&job, Duration::from_millis(2), chunk);
        let (_, rows) = session(&job, 2, &work);
        for r in &rows {
            let at_least = if r.engine_id == 0 { 0.008 } else { 0.002 };
            assert!(r.compute_s >= at_least, "{mode:?}: {r:?}");
        }
        let counts: Vec<usize> = per_engine(&rows, 2).iter().map(Vec::len).collect();
        match mode {
            Mode::Direct => assert_eq!(counts, [20, 20]),
            Mode::Balanced => assert!(counts[1] > 2 * counts[0], "{counts:?}"),
        }
    }
}

/// The smallest prefix of chunks that meets `precision`, computed serially.
fn serial_stop(job: &Job, precision: f64) -> Option<u64> {
    let (mut inside, mut samples) = (0, 0);
    (0..job.chunks).find_map(|c| {
        inside += compute(job, Kernel::Scalar, c).inside;
        samples += job.plan().chunk_len(c);
        crate::record::stats::meets(inside, samples, precision).then_some(c + 1)
    })
}

#[test]
fn precision_stops_at_the_same_prefix_whatever_the_mode_schedule_and_engines() {
    use crate::store::checkpoint::{Ledger, Stop};
    // 400 chunks of 1000 points; +-0.02 needs about 26 000 points.
    let precision = 0.02;
    let base = Job {
        samples: 400_000,
        precision: Some(precision),
        ..job(Mode::Balanced, 400, &[], 2)
    };
    let expected = serial_stop(&base, precision).expect("met within the cap");
    assert!((10..100).contains(&expected), "{expected}");
    for (mode, schedule, engines) in [
        (Mode::Balanced, Schedule::Dynamic, 1),
        (Mode::Balanced, Schedule::Dynamic, 3),
        (Mode::Balanced, Schedule::Guided, 3),
        (Mode::Balanced, Schedule::Static, 4),
        (Mode::Direct, Schedule::Dynamic, 3),
    ] {
        let job = Job {
            mode,
            schedule,
            targets: all(engines),
            ..base.clone()
        };
        // 1 ms chunks: the stop comes long before the last chunk, unless an
        // engine holding back the prefix is descheduled for a third of a second.
        let work = |_: usize, chunk| slow(&job, Duration::from_millis(1), chunk);
        let mut ledger = Ledger::new(job.chunks, job.precision);
        let cluster = Cluster {
            job: &job,
            grace: Duration::from_secs(30),
            work: &work,
            controller: TestAlarm::default(),
            engines: vec![TestAlarm::default(); engines as usize],
        };
        let outcome = cluster.run(&mut |news| {
            if let News::Chunk(row) = news {
                ledger.add(row);
            }
            match ledger.stop() {
                Some(Stop::Precision(_)) => Flow::Enough,
                _ => Flow::Continue,
            }
        });
        let what = format!("{mode:?} {schedule:?} on {engines}");
        assert!(outcome.stranded.is_empty(), "{what}");
        assert_eq!(outcome.signal, None, "{what}");
        assert_eq!(ledger.stop(), Some(Stop::Precision(expected)), "{what}");
        assert!(ledger.done() < 400, "{what}: stopped early");
    }
}

#[test]
fn an_engine_told_stop_still_reports_a_signal_it_caught_on_its_last_chunk() {
    use super::engine::serve;
    use super::memory::network;
    use super::transport::{ControllerLink, Order, Report};
    // The engine reads its task and Stop together; the signal arrives while
    // it computes the last chunk. It must say Halt before its goodbye.
    let job = job(Mode::Balanced, 4, &all(1), 1);
    let (mut controller, mut ends) = network(1);
    controller.send(0, Order::Tasks { first: 2, count: 1 });
    controller.send(0, Order::Stop);
    let alarm = TestAlarm::default();
    let work = &mut |chunk| {
        alarm.raise(SIGTERM);
        compute(&job, Kernel::Scalar, chunk)
    };
    let clock = &mut WallClock::new();
    serve(&mut ends[0], clock, &alarm, &job, 0, &job.todo(), work);
    let reports: Vec<Report> = std::iter::from_fn(|| controller.try_recv())
        .map(|(_, r)| r)
        .collect();
    assert!(matches!(&reports[0], Report::Results(r) if r[0].chunk_id == 2));
    assert_eq!(reports[1], Report::Halt(SIGTERM));
    assert!(matches!(reports[2], Report::Bye { chunks: 1, .. }));
    assert_eq!(reports.len(), 3);
}
