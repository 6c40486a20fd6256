//! Rank 0's loop: dispatch (balanced mode), collect results, relay signals,
//! and wait until every engine has said goodbye.

use super::dispatch::Dispatcher;
use super::pace::{self, Backoff, PeerPace};
use super::transport::{Alarm, Clock, ControllerLink, Order, Report};
use super::{poll, row, Event, Flow, News, Outcome};
use crate::config::Job;
use std::time::Duration;

/// Runs one session's controller over `link`: hands out the chunks `todo`
/// (ascending) as `job` says (or lets the engines take a fixed split), calls
/// `on_news` with each result as it arrives and with [`News::Waiting`] before
/// each pause, and returns once every engine has said goodbye or, after a
/// signal, once `grace` has passed.
///
/// The first signal caught here or relayed by an engine stops the
/// dispatching: every engine is told to cancel, the chunks being computed
/// are still collected, and queued ones are dropped. [`Flow::Enough`] from
/// `on_news` does the same without a signal. A second signal caught here
/// ends the wait for the chunks being computed at once.
pub(crate) fn control(
    link: &mut impl ControllerLink,
    clock: &mut impl Clock,
    alarm: &impl Alarm,
    job: &Job,
    todo: &[u64],
    grace: Duration,
    on_news: &mut dyn FnMut(News) -> Flow,
) -> Outcome {
    // Times count from the clock's origin: the start of the parallel section.
    let cpu = clock.cpu();
    let peers = link.peers();
    // Each peer is told Stop, Cancel, or Stop and then Cancel, and then
    // says goodbye once. Stop comes only once every result is in: until then
    // an engine with nothing (more) to do (not targeted, or its share of a
    // fixed split done) stays in its loop, where a signal it catches is still
    // relayed; one that had left would swallow it.
    let mut told = vec![Told::Nothing; peers];
    let mut gone = vec![false; peers];
    let mut dispatch_s = vec![0.0; job.chunks as usize];
    // A peer holds the windows of the targeted engines it stands for.
    let behind: Vec<usize> = (0..peers)
        .map(|p| {
            let behind = link.engines_behind(p);
            behind.iter().filter(|e| job.targets.contains(e)).count()
        })
        .collect();
    let workers = behind.iter().sum::<usize>().max(1) as f64;
    let mut paces: Vec<PeerPace> = behind.iter().map(|&b| PeerPace::new(b)).collect();
    let mut unheard = behind.iter().filter(|&&b| b > 0).count();
    let mut dispatcher = job.split().is_none().then(|| {
        let chunks = todo.len() as u64;
        let mut d = Dispatcher::new(chunks, behind, job.window as usize, job.schedule);
        for (peer, batch) in d.start() {
            hand_out(link, clock, peer, batch, todo, &mut dispatch_s);
        }
        d
    });
    let mut received = 0;
    let mut sent_back = vec![(0u64, 0u64); peers];
    let mut end = todo.is_empty().then(|| clock.now());
    let mut signal: Option<i32> = None;
    let mut enough = false;
    let mut deadline = None;
    let mut hurried = false;
    let mut backoff = Backoff::for_waiting();
    let mut computed = Duration::ZERO;
    // When the last message came, and the mean gap between messages.
    let (mut last_heard, mut gap) = (clock.now(), Duration::ZERO);
    while gone.iter().any(|g| !g) {
        if signal.is_none() {
            if let Some(s) = alarm.caught() {
                signal = Some(s);
                deadline = Some(clock.now() + grace);
            }
        }
        // A second signal: the results already here are taken, the chunks
        // being computed are not waited for.
        if signal.is_some() && !hurried && alarm.repeated() {
            hurried = true;
            deadline = Some(clock.now());
        }
        // A signal or enough: every engine still there drops its queue.
        // Otherwise, once every result is in, the rest are told Stop.
        let cancel = signal.map(Some).or(enough.then_some(None));
        for e in 0..peers {
            let order = match (cancel, told[e]) {
                (Some(reason), Told::Nothing | Told::Stop) if !gone[e] => Order::Cancel(reason),
                (None, Told::Nothing) if end.is_some() => Order::Stop,
                _ => continue,
            };
            link.send(e, order);
            told[e] = match order {
                Order::Stop => Told::Stop,
                _ => Told::Cancel,
            };
        }
        // Before a signal, wait for one; after it, for a second one.
        let signalled = || match signal {
            None => alarm.caught().is_some(),
            Some(_) => !hurried && alarm.repeated(),
        };
        let idle = &mut || {
            on_news(News::Waiting);
        };
        let (peer, report) = match poll(
            || link.try_recv(),
            clock,
            &mut backoff,
            deadline,
            &signalled,
            idle,
        ) {
            Event::Found(found) => found,
            Event::Signal => continue,
            Event::Timeout => break,
        };
        match report {
            Report::Results(results) => {
                let now = clock.now();
                let done_s = now.as_secs_f64();
                gap = (gap * 7 + now.saturating_sub(last_heard)) / 8;
                last_heard = now;
                backoff.set_eager(gap < pace::EAGER_GAP);
                let mut compute_s = 0.0;
                for result in &results {
                    compute_s += result.compute_s;
                    sent_back[peer].0 += 1;
                    sent_back[peer].1 += result.inside;
                    let chunk = result.chunk_id as usize;
                    let row = row(job, result, result.engine, dispatch_s[chunk], done_s);
                    // Heard before the peer's next batch goes out: a result
                    // that meets --precision brings no more work.
                    if on_news(News::Chunk(row)) == Flow::Enough {
                        enough = true;
                    }
                }
                received += results.len();
                let compute = Duration::from_secs_f64(compute_s);
                computed += compute;
                if paces[peer].chunks() == 0 {
                    unheard -= 1;
                }
                paces[peer].heard(now, results.len(), compute);
                // Sleep at most half an engine's queued work (only
                // --window chunks until every peer was heard from and got
                // its wider window), and at the end a quarter of what is
                // still out: the run's elapsed time ends when the last
                // result is taken.
                let typical = computed.div_f64(received as f64);
                let left = typical.mul_f64((todo.len() - received) as f64 / workers);
                let window = match unheard {
                    0 => pace::window(typical, job.window as usize),
                    _ => job.window as usize,
                };
                let cap = pace::sleep_cap(typical, window);
                backoff.set_max_sleep(cap.min(pace::tail_sleep_cap(left)));
                if let Some(d) = dispatcher.as_mut() {
                    d.set_window(peer, paces[peer].window(job.window as usize));
                    let next = d.finished(peer, results.len());
                    if let (Some(batch), None, false) = (next, signal, enough) {
                        hand_out(link, clock, peer, batch, todo, &mut dispatch_s);
                    }
                }
                if received == todo.len() {
                    end = Some(clock.now());
                }
            }
            Report::Halt(s) => alarm.relay(s),
            Report::Bye { chunks, inside } => {
                assert_eq!(
                    (chunks, inside),
                    sent_back[peer],
                    "peer {peer}: its chunks and inside total don't match what arrived"
                );
                gone[peer] = true;
            }
        }
    }
    let elapsed = match (signal, end) {
        (None, Some(end)) if !enough => end,
        _ => clock.now(),
    };
    Outcome {
        elapsed,
        controller_cpu: clock.cpu().saturating_sub(cpu),
        // A signal that came once the run had all it needed did not stop it.
        signal: signal.filter(|_| received < todo.len() && !enough),
        stranded: (0..peers)
            .filter(|&p| !gone[p])
            .flat_map(|p| link.engines_behind(p).to_vec())
            .collect(),
        hurried,
    }
}

/// Sends `peer` the chunks at positions `batch` of `todo`, noting when.
fn hand_out(
    link: &mut impl ControllerLink,
    clock: &impl Clock,
    peer: usize,
    batch: std::ops::Range<u64>,
    todo: &[u64],
    dispatch_s: &mut [f64],
) {
    let now = clock.now().as_secs_f64();
    for &chunk in &todo[batch.start as usize..batch.end as usize] {
        dispatch_s[chunk as usize] = now;
    }
    let (first, count) = (batch.start, batch.end - batch.start);
    link.send(peer, Order::Tasks { first, count });
}

/// What a peer has been told about the end of the session.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Told {
    Nothing,
    /// Finish your queue.
    Stop,
    /// Drop your queue.
    Cancel,
}
