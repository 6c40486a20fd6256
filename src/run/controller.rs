//! Rank 0's loop: dispatch (balanced mode), collect results, relay signals,
//! and wait until every engine has said goodbye.

use super::dispatch::Dispatcher;
use super::pace::{self, Backoff};
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
/// `on_news` does the same without a signal.
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
    let start = Duration::ZERO;
    let cpu = clock.cpu();
    let engines = link.engines();
    let targeted: Vec<usize> = job.targets.iter().map(|&t| t as usize).collect();
    // Each engine gets exactly one Stop or Cancel, then says goodbye.
    let mut told = vec![false; engines];
    let mut gone = vec![false; engines];
    let mut dispatch_s = vec![0.0; job.chunks as usize];
    let since_start = |now: Duration| (now - start).as_secs_f64();
    let mut dispatcher = match job.split() {
        Some(_) => None,
        None => {
            for idle in (0..engines).filter(|e| !targeted.contains(e)) {
                link.send(idle, Order::Stop);
                told[idle] = true;
            }
            let (chunks, window) = (todo.len() as u64, job.window as usize);
            let workers = targeted.len();
            let mut d = Dispatcher::new(chunks, engines, workers, window, job.schedule);
            for (engine, batch) in d.start(&targeted) {
                for index in batch {
                    let chunk = todo[index as usize];
                    dispatch_s[chunk as usize] = since_start(clock.now());
                    link.send(engine, Order::Task(chunk));
                }
            }
            Some(d)
        }
    };
    let mut received = 0;
    let mut sent_back = vec![(0u64, 0u64); engines];
    let mut end = todo.is_empty().then(|| clock.now() - start);
    let mut signal: Option<i32> = None;
    let mut enough = false;
    let mut deadline = None;
    let mut backoff = Backoff::for_waiting();
    let mut computed = Duration::ZERO;
    while gone.iter().any(|g| !g) {
        // Tells every engine not yet told, once.
        let mut tell_the_rest = |order: Order| {
            for (engine, told) in told.iter_mut().enumerate() {
                if !std::mem::replace(told, true) {
                    link.send(engine, order);
                }
            }
        };
        if end.is_some() && signal.is_none() {
            tell_the_rest(Order::Stop);
        } else if enough {
            tell_the_rest(Order::Cancel(None));
        }
        if signal.is_none() {
            if let Some(s) = alarm.caught() {
                signal = Some(s);
                deadline = Some(clock.now() + grace);
                tell_the_rest(Order::Cancel(Some(s)));
            }
        }
        let watch = signal.is_none().then_some(alarm);
        let idle = &mut || {
            on_news(News::Waiting);
        };
        let (engine, report) = match poll(
            || link.try_recv(),
            clock,
            &mut backoff,
            deadline,
            watch,
            idle,
        ) {
            Event::Found(found) => found,
            Event::Signal => continue,
            Event::Timeout => break,
        };
        match report {
            Report::Result(result) => {
                let done_s = since_start(clock.now());
                if let Some(d) = dispatcher.as_mut() {
                    let next = d.finished(engine);
                    if let (Some(batch), None, false) = (next, signal, enough) {
                        for index in batch {
                            let chunk = todo[index as usize];
                            dispatch_s[chunk as usize] = since_start(clock.now());
                            link.send(engine, Order::Task(chunk));
                        }
                    }
                }
                computed += Duration::from_secs_f64(result.compute_s);
                received += 1;
                let typical = computed / received as u32;
                backoff.set_max_sleep(pace::sleep_cap(typical, job.window as usize));
                sent_back[engine].0 += 1;
                sent_back[engine].1 += result.inside;
                let chunk = result.chunk_id as usize;
                let row = row(job, &result, engine as u32, dispatch_s[chunk], done_s);
                if on_news(News::Chunk(row)) == Flow::Enough {
                    enough = true;
                }
                if received == todo.len() {
                    end = Some(clock.now() - start);
                }
            }
            Report::Halt(s) => alarm.relay(s),
            Report::Bye { chunks, inside } => {
                assert_eq!(
                    (chunks, inside),
                    sent_back[engine],
                    "engine {engine}: its chunks and inside total don't match what arrived"
                );
                gone[engine] = true;
            }
        }
    }
    let elapsed = match (signal, end) {
        (None, Some(end)) if !enough => end,
        _ => clock.now() - start,
    };
    Outcome {
        elapsed,
        controller_cpu: clock.cpu().saturating_sub(cpu),
        signal: signal.filter(|_| received < todo.len()),
        stranded: (0..engines)
            .filter(|&e| !gone[e])
            .map(|e| e as u32)
            .collect(),
    }
}
