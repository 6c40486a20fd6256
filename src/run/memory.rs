//! The transport in memory: the controller and each engine on their own
//! thread, linked by channels, each rank with its own alarm. The unit tests
//! run the real loops over it, with any number of engines and no MPI.

use super::controller::control;
use super::engine::serve;
use super::transport::{Alarm, ChunkResult, ControllerLink, EngineLink, Order, Report};
use super::{Flow, News, Outcome};
use crate::config::Job;
use crate::sys::clock::WallClock;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

/// The controller's end: a sender per engine, one inbox for all reports.
pub(crate) struct MemoryController {
    to_engines: Vec<Sender<Order>>,
    /// Engine ids `0..engines`: each peer stands for itself.
    ids: Vec<u32>,
    inbox: Receiver<(usize, Report)>,
}

/// An engine's end.
pub(crate) struct MemoryEngine {
    id: usize,
    to_controller: Sender<(usize, Report)>,
    inbox: Receiver<Order>,
}

/// Links a controller to `engines` engines.
pub(crate) fn network(engines: usize) -> (MemoryController, Vec<MemoryEngine>) {
    let (to_controller, inbox) = channel();
    let (to_engines, ends) = (0..engines)
        .map(|id| {
            let (tx, rx) = channel();
            let end = MemoryEngine {
                id,
                to_controller: to_controller.clone(),
                inbox: rx,
            };
            (tx, end)
        })
        .unzip();
    let ids = (0..engines as u32).collect();
    let controller = MemoryController {
        to_engines,
        ids,
        inbox,
    };
    (controller, ends)
}

impl ControllerLink for MemoryController {
    fn peers(&self) -> usize {
        self.to_engines.len()
    }

    fn engines_behind(&self, peer: usize) -> &[u32] {
        &self.ids[peer..=peer]
    }

    fn send(&mut self, engine: usize, order: Order) {
        // An engine that has ended drops its inbox; as over MPI, a message
        // to it is simply never read.
        let _ = self.to_engines[engine].send(order);
    }

    fn try_recv(&mut self) -> Option<(usize, Report)> {
        self.inbox.try_recv().ok()
    }
}

impl EngineLink for MemoryEngine {
    fn send(&mut self, report: Report) {
        let _ = self.to_controller.send((self.id, report));
    }

    fn try_recv(&mut self) -> Option<Order> {
        self.inbox.try_recv().ok()
    }
}

/// One rank's stopping signal: the first one raised or relayed wins; the
/// signals raised are counted.
#[derive(Clone, Default)]
pub(crate) struct TestAlarm {
    signal: Arc<AtomicI32>,
    raised: Arc<AtomicU32>,
}

impl TestAlarm {
    /// A signal arrives at this rank.
    pub(crate) fn raise(&self, signal: i32) {
        self.relay(signal);
        self.raised.fetch_add(1, Ordering::SeqCst);
    }
}

impl Alarm for TestAlarm {
    fn caught(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    fn relay(&self, signal: i32) {
        let _ = self
            .signal
            .compare_exchange(0, signal, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn repeated(&self) -> bool {
        self.raised.load(Ordering::SeqCst) >= 2
    }
}

/// A whole session in memory: the controller on this thread, `alarms.len()`
/// engines on their own, each computing with `work(engine, chunk)`.
pub(crate) struct Cluster<'a> {
    pub(crate) job: &'a Job,
    pub(crate) grace: Duration,
    pub(crate) work: &'a (dyn Fn(usize, u64) -> ChunkResult + Sync),
    pub(crate) controller: TestAlarm,
    pub(crate) engines: Vec<TestAlarm>,
}

impl Cluster<'_> {
    /// Runs the session's chunks `job.todo()` to the end: `on_news` hears
    /// what the controller hears.
    pub(crate) fn run_all(&self, on_news: &mut dyn FnMut(News)) -> Outcome {
        self.run(&mut |news| {
            on_news(news);
            Flow::Continue
        })
    }

    /// Runs the session's chunks `job.todo()`: `on_news` hears what the
    /// controller hears, and may stop the run. Returns the controller's
    /// outcome.
    pub(crate) fn run(&self, on_news: &mut dyn FnMut(News) -> Flow) -> Outcome {
        let (mut link, ends) = network(self.engines.len());
        let todo = self.job.todo();
        std::thread::scope(|scope| {
            for (mut end, alarm) in ends.into_iter().zip(&self.engines) {
                let todo = &todo;
                scope.spawn(move || {
                    let id = end.id;
                    let work = &mut |chunk| (self.work)(id, chunk);
                    let clock = &mut WallClock::new();
                    serve(&mut end, clock, alarm, self.job, id as u32, todo, work);
                });
            }
            let clock = &mut WallClock::new();
            let alarm = &self.controller;
            control(
                &mut link, clock, alarm, self.job, &todo, self.grace, on_news,
            )
        })
    }
}
