//! The simulation: a virtual clock, the controller's link, and engines and
//! node dispatchers as events.
//!
//! Rank 0 runs the real [`control`] loop. Whatever it does costs virtual
//! time: a send, a receive, an empty poll, a pause. The engines and node
//! dispatchers are lazy: their events are played, in time order, up to the
//! controller's present each time it looks at its inbox (nothing they do
//! can reach it sooner). What rank 0 sends reaches them `latency` later.

use super::{Dispatch, Pacing, Params, Prediction, Scenario};
use crate::run::controller::control;
use crate::run::dispatch::share;
use crate::run::engine::hand_in;
use crate::run::pace::{self, Backoff, Pause};
use crate::run::transport::{Alarm, ChunkResult, Clock, ControllerLink, Order, Report};
use crate::run::Flow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

/// [`Params`] as durations.
struct Costs {
    ctl_send: Duration,
    ctl_recv: Duration,
    ctl_poll: Duration,
    ctl_item: Duration,
    eng_msg: Duration,
    latency: Duration,
    local_latency: Duration,
    chunk_fixed: Duration,
    rate: f64,
    /// `None`: waits end the moment a message arrives.
    backoff: Option<(Duration, Duration)>,
}

impl Costs {
    fn new(p: &Params) -> Costs {
        let d = Duration::from_secs_f64;
        Costs {
            ctl_send: d(p.ctl_send),
            ctl_recv: d(p.ctl_recv),
            ctl_poll: d(p.ctl_poll),
            ctl_item: d(p.ctl_item),
            eng_msg: d(p.eng_msg),
            latency: d(p.latency),
            local_latency: d(p.local_latency),
            chunk_fixed: d(p.chunk_fixed),
            rate: p.rate,
            backoff: match p.pacing {
                Pacing::Exact => None,
                Pacing::Backoff { overshoot, yield_s } => Some((d(overshoot), d(yield_s))),
            },
        }
    }

    /// How long a pause lasts.
    fn pause(&self, pause: Pause) -> Duration {
        let (overshoot, yield_s) = self.backoff.unwrap_or_default();
        match pause {
            Pause::Spin => Duration::ZERO,
            Pause::Yield => yield_s,
            Pause::Sleep(d) => d + overshoot,
        }
    }

    /// When a rank that began waiting at `since` with a backoff capped at
    /// `cap` polls for the first time at or after `arrival`: the real
    /// [`Backoff`]'s spins, yields and doubling sleeps, each poll costing
    /// `poll`.
    fn noticed(
        &self,
        since: Duration,
        cap: Duration,
        arrival: Duration,
        poll: Duration,
    ) -> Duration {
        if self.backoff.is_none() || arrival <= since {
            return arrival.max(since);
        }
        let mut backoff = Backoff::for_waiting();
        backoff.set_max_sleep(cap);
        let mut t = since;
        loop {
            let pause = backoff.pause();
            let step = poll + self.pause(pause);
            if matches!(pause, Pause::Sleep(d) if d >= cap) {
                // Steady sleeps from here on: jump to the poll.
                let n = (arrival - t).as_nanos().div_ceil(step.as_nanos());
                return t + step * n as u32;
            }
            t += step;
            if t >= arrival {
                return t;
            }
        }
    }

    fn chunk_time(&self, samples: u64) -> Duration {
        self.chunk_fixed + Duration::from_secs_f64(samples as f64 / self.rate)
    }
}

/// Something at a time; heaps of them pop the earliest first, ties in the
/// order they were pushed.
struct Timed<E> {
    at: Duration,
    seq: u64,
    item: E,
}

impl<E> PartialEq for Timed<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<E> Eq for Timed<E> {}
impl<E> PartialOrd for Timed<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Timed<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Who an engine reports to.
#[derive(Clone, Copy)]
enum Parent {
    Root,
    /// Node dispatcher `node`, as its local engine `slot`.
    Node {
        node: usize,
        slot: usize,
    },
}

/// What happens away from rank 0.
enum Event {
    /// An order reaches an engine.
    Order { engine: usize, order: Order },
    /// An idle engine polls and finds what has arrived.
    Wake(usize),
    /// An engine finishes its chunk.
    Done(usize),
    /// A message reaches a node dispatcher.
    Node { node: usize, message: NodeMessage },
    /// A node dispatcher forwards what it has gathered.
    Flush(usize),
}

enum NodeMessage {
    FromRoot(Order),
    FromEngine { slot: usize, report: Report },
}

/// A message in rank 0's inbox; `extra`: the results it carries beyond the
/// first.
struct Arrival {
    engine: usize,
    report: Report,
    extra: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Told {
    Stop,
    Cancel,
}

struct Engine {
    parent: Parent,
    queue: VecDeque<u64>,
    /// Orders that have arrived or are on their way, with their arrival.
    arrived: VecDeque<(Duration, Order)>,
    told: Option<Told>,
    busy: Option<u64>,
    /// Waiting since, with this backoff cap.
    idle: Option<(Duration, Duration)>,
    wake: bool,
    cap: Duration,
    sent: (u64, u64),
    /// Results held back (as [`hand_in`] says), the first since.
    held: Vec<ChunkResult>,
    held_since: Duration,
}

struct Node {
    engines: Vec<usize>,
    queue: VecDeque<u64>,
    in_flight: Vec<usize>,
    free_at: Duration,
    out: Vec<ChunkResult>,
    flush: bool,
    byes: usize,
    totals: (u64, u64),
}

/// Everything but rank 0's loop.
struct World {
    costs: Costs,
    job: crate::config::Job,
    window: usize,
    now: Duration,
    cpu: Duration,
    seq: u64,
    events: BinaryHeap<Timed<Event>>,
    inbox: BinaryHeap<Timed<Arrival>>,
    engines: Vec<Engine>,
    nodes: Vec<Node>,
    busy: Duration,
    received: u64,
    todo: Vec<u64>,
}

impl World {
    fn push(&mut self, at: Duration, item: Event) {
        self.seq += 1;
        self.events.push(Timed {
            at,
            seq: self.seq,
            item,
        });
    }

    fn deliver(&mut self, at: Duration, engine: usize, report: Report, extra: usize) {
        self.seq += 1;
        let item = Arrival {
            engine,
            report,
            extra,
        };
        self.inbox.push(Timed {
            at,
            seq: self.seq,
            item,
        });
    }

    /// Plays every event up to `until`.
    fn play(&mut self, until: Duration) {
        while self.events.peek().is_some_and(|e| e.at <= until) {
            let Timed { at, item, .. } = self.events.pop().expect("peeked");
            self.handle(at, item);
        }
    }

    fn handle(&mut self, at: Duration, event: Event) {
        match event {
            Event::Order { engine, order } => {
                let e = &mut self.engines[engine];
                e.arrived.push_back((at, order));
                if let (Some((since, cap)), false) = (e.idle, e.wake) {
                    let poll = self.costs.eng_msg;
                    let when = self.costs.noticed(since, cap, at, poll);
                    self.engines[engine].wake = true;
                    self.push(when, Event::Wake(engine));
                }
            }
            Event::Wake(engine) => {
                let e = &mut self.engines[engine];
                e.wake = false;
                e.idle = None;
                self.step(engine, at);
            }
            Event::Done(engine) => {
                let chunk = self.engines[engine].busy.take().expect("a chunk");
                let compute = self.costs.chunk_time(self.job.plan().chunk_len(chunk));
                self.busy += compute;
                let result = ChunkResult {
                    chunk_id: chunk,
                    engine: engine as u32,
                    inside: 0,
                    compute_s: compute.as_secs_f64(),
                    compute_cpu_s: compute.as_secs_f64(),
                };
                let e = &mut self.engines[engine];
                e.sent.0 += 1;
                e.cap = pace::sleep_cap(compute, 1);
                if e.held.is_empty() {
                    e.held_since = at;
                }
                e.held.push(result);
                let t = match hand_in(e.held.len(), e.queue.len(), at - e.held_since) {
                    true => self.send_held(at, engine),
                    false => at,
                };
                self.step(engine, t);
            }
            Event::Node { node, message } => self.node_message(at, node, message),
            Event::Flush(node) => self.flush(at, node),
        }
    }

    /// Engine `engine` sends the results it holds, if any, at `at`; returns
    /// when it is done.
    fn send_held(&mut self, at: Duration, engine: usize) -> Duration {
        match std::mem::take(&mut self.engines[engine].held) {
            held if held.is_empty() => at,
            held => self.report(at, engine, Report::Results(held)),
        }
    }

    /// Engine `engine` sends `report` at `at`; returns when it is done.
    fn report(&mut self, at: Duration, engine: usize, report: Report) -> Duration {
        let t = at + self.costs.eng_msg;
        match self.engines[engine].parent {
            Parent::Root => {
                let arrive = t + self.costs.latency;
                self.deliver(arrive, engine, report, 0);
            }
            Parent::Node { node, slot } => {
                let message = NodeMessage::FromEngine { slot, report };
                self.push(t + self.costs.local_latency, Event::Node { node, message });
            }
        }
        t
    }

    /// The top of an engine's loop at `at`: take the orders that are in,
    /// then compute, say goodbye, or wait.
    fn step(&mut self, engine: usize, mut at: Duration) {
        let e = &mut self.engines[engine];
        while e.arrived.front().is_some_and(|(t, _)| *t <= at) {
            let (_, order) = e.arrived.pop_front().expect("fronted");
            at += self.costs.eng_msg;
            match order {
                Order::Tasks { first, count } => e
                    .queue
                    .extend(&self.todo[first as usize..(first + count) as usize]),
                Order::Stop => e.told = e.told.or(Some(Told::Stop)),
                Order::Cancel(_) => e.told = Some(Told::Cancel),
            }
        }
        let bye = match e.told {
            Some(Told::Cancel) => true,
            Some(Told::Stop) => e.queue.is_empty(),
            None => false,
        };
        if bye {
            e.queue.clear();
            let (chunks, inside) = e.sent;
            let at = self.send_held(at, engine);
            self.report(at, engine, Report::Bye { chunks, inside });
        } else if let Some(chunk) = e.queue.pop_front() {
            e.busy = Some(chunk);
            let len = self.job.plan().chunk_len(chunk);
            let done = at + self.costs.chunk_time(len);
            self.push(done, Event::Done(engine));
        } else {
            let at = self.send_held(at, engine);
            let e = &mut self.engines[engine];
            e.idle = Some((at, e.cap));
            if let Some(&(arrival, _)) = e.arrived.front() {
                let poll = self.costs.eng_msg;
                let when = self.costs.noticed(at, e.cap, arrival, poll);
                self.engines[engine].wake = true;
                self.push(when, Event::Wake(engine));
            }
        }
    }

    /// A node dispatcher handles a message, one at a time.
    fn node_message(&mut self, at: Duration, node: usize, message: NodeMessage) {
        let mut t = at.max(self.nodes[node].free_at) + self.costs.eng_msg;
        match message {
            NodeMessage::FromRoot(Order::Tasks { first, count }) => {
                self.nodes[node].queue.extend(first..first + count)
            }
            NodeMessage::FromRoot(order) => {
                let n = &mut self.nodes[node];
                if matches!(order, Order::Cancel(_)) {
                    n.queue.clear();
                }
                for slot in 0..n.engines.len() {
                    t = self.node_send(t, node, slot, order);
                }
            }
            NodeMessage::FromEngine { slot, report } => {
                let n = &mut self.nodes[node];
                match report {
                    Report::Results(results) => {
                        n.in_flight[slot] -= results.len();
                        n.totals.0 += results.len() as u64;
                        n.totals.1 += results.iter().map(|r| r.inside).sum::<u64>();
                        n.out.extend(results);
                    }
                    Report::Halt(signal) => {
                        let t = t + self.costs.eng_msg + self.costs.latency;
                        self.deliver(t, node, Report::Halt(signal), 0);
                    }
                    Report::Bye { .. } => n.byes += 1,
                }
            }
        }
        t = self.feed(t, node);
        let n = &mut self.nodes[node];
        n.free_at = t;
        if !n.flush {
            n.flush = true;
            self.push(t, Event::Flush(node));
        }
    }

    /// Gives queued chunks to the node's engines with room, least loaded
    /// first.
    fn feed(&mut self, mut t: Duration, node: usize) -> Duration {
        // Shared out evenly among the engines with room, as the real node
        // dispatcher does.
        let n = &self.nodes[node];
        let takers = n.in_flight.iter().filter(|&&f| f < self.window).count();
        let fair = n.queue.len().div_ceil(takers.max(1));
        loop {
            let n = &mut self.nodes[node];
            let Some(slot) = (0..n.engines.len())
                .filter(|&s| n.in_flight[s] < self.window)
                .min_by_key(|&s| n.in_flight[s])
            else {
                return t;
            };
            let Some(first) = n.queue.pop_front() else {
                return t;
            };
            // As many as fit, in one message of consecutive positions.
            let mut count = 1;
            while n.in_flight[slot] + (count as usize) < self.window
                && (count as usize) < fair
                && n.queue.front() == Some(&(first + count))
            {
                n.queue.pop_front();
                count += 1;
            }
            n.in_flight[slot] += count as usize;
            t = self.node_send(t, node, slot, Order::Tasks { first, count });
        }
    }

    fn node_send(&mut self, at: Duration, node: usize, slot: usize, order: Order) -> Duration {
        let t = at + self.costs.eng_msg;
        let engine = self.nodes[node].engines[slot];
        self.push(t + self.costs.local_latency, Event::Order { engine, order });
        t
    }

    /// A node dispatcher sends rank 0 what it gathered, in one message, and
    /// its goodbye once its engines have all said theirs.
    fn flush(&mut self, at: Duration, node: usize) {
        let n = &mut self.nodes[node];
        n.flush = false;
        let mut t = at.max(n.free_at);
        let out = std::mem::take(&mut n.out);
        if !out.is_empty() {
            t += self.costs.eng_msg;
            let extra = out.len() - 1;
            self.deliver(t + self.costs.latency, node, Report::Results(out), extra);
        }
        let n = &mut self.nodes[node];
        if n.byes == n.engines.len() {
            n.byes = usize::MAX;
            let (chunks, inside) = n.totals;
            t += self.costs.eng_msg;
            let bye = Report::Bye { chunks, inside };
            self.deliver(t + self.costs.latency, node, bye, 0);
        }
        self.nodes[node].free_at = t;
    }
}

/// The virtual clock and rank 0's end of the links, over one world, with
/// the engines behind each peer.
struct Sim(Rc<RefCell<World>>, Vec<Vec<u32>>);

impl Clock for Sim {
    fn now(&self) -> Duration {
        self.0.borrow().now
    }

    fn cpu(&self) -> Duration {
        self.0.borrow().cpu
    }

    fn pause(&mut self, pause: Pause) {
        let mut w = self.0.borrow_mut();
        let length = w.costs.pause(pause);
        // A spin or a yield is the controller's CPU; a sleep is not.
        if !matches!(pause, Pause::Sleep(_)) {
            w.cpu += length;
        }
        let until = w.now + length;
        if w.costs.backoff.is_some() {
            w.now = until;
            return;
        }
        // Exact pacing: the wait ends when the next report arrives.
        loop {
            let next_report = w.inbox.peek().map(|a| a.at);
            let next_event = w.events.peek().map(|e| e.at);
            match (next_report, next_event) {
                (Some(r), e) if e.is_none_or(|e| r <= e) => {
                    w.now = w.now.max(r);
                    return;
                }
                (_, Some(_)) => {
                    let Timed { at, item, .. } = w.events.pop().expect("peeked");
                    w.handle(at, item);
                }
                _ => {
                    w.now = until;
                    return;
                }
            }
        }
    }
}

impl ControllerLink for Sim {
    fn peers(&self) -> usize {
        self.1.len()
    }

    fn engines_behind(&self, peer: usize) -> &[u32] {
        &self.1[peer]
    }

    fn send(&mut self, engine: usize, order: Order) {
        let mut w = self.0.borrow_mut();
        let cost = w.costs.ctl_send;
        w.now += cost;
        w.cpu += cost;
        let arrive = w.now + w.costs.latency;
        let event = if w.nodes.is_empty() {
            Event::Order { engine, order }
        } else {
            let message = NodeMessage::FromRoot(order);
            Event::Node {
                node: engine,
                message,
            }
        };
        w.push(arrive, event);
    }

    fn try_recv(&mut self) -> Option<(usize, Report)> {
        let mut w = self.0.borrow_mut();
        let now = w.now;
        w.play(now);
        if w.inbox.peek().is_some_and(|a| a.at <= now) {
            let arrival = w.inbox.pop().expect("peeked").item;
            let cost = w.costs.ctl_recv + w.costs.ctl_item * arrival.extra as u32;
            w.now += cost;
            w.cpu += cost;
            w.received += 1;
            Some((arrival.engine, arrival.report))
        } else {
            let cost = w.costs.ctl_poll;
            w.now += cost;
            w.cpu += cost;
            None
        }
    }
}

/// No signal ever comes.
struct Calm;

impl Alarm for Calm {
    fn caught(&self) -> Option<i32> {
        None
    }
    fn relay(&self, _: i32) {}
    fn repeated(&self) -> bool {
        false
    }
}

fn engine(parent: Parent) -> Engine {
    Engine {
        parent,
        queue: VecDeque::new(),
        arrived: VecDeque::new(),
        told: None,
        busy: None,
        idle: None,
        wake: false,
        // An engine's first tasks come right after the start.
        cap: pace::SLEEP_CAP_RANGE.0,
        sent: (0, 0),
        held: Vec::new(),
        held_since: Duration::ZERO,
    }
}

pub(super) fn run(params: &Params, scenario: &Scenario) -> Prediction {
    let job = scenario.job();
    let todo = job.todo();
    let mut engines = Vec::with_capacity(scenario.engines);
    let mut nodes = Vec::new();
    match scenario.dispatch {
        Dispatch::Flat | Dispatch::Direct => {
            engines.extend((0..scenario.engines).map(|_| engine(Parent::Root)));
        }
        Dispatch::Node { per_node } => {
            for node in 0..scenario.engines.div_ceil(per_node) {
                let first = node * per_node;
                let last = (first + per_node).min(scenario.engines);
                for slot in 0..last - first {
                    engines.push(engine(Parent::Node { node, slot }));
                }
                nodes.push(Node {
                    engines: (first..last).collect(),
                    queue: VecDeque::new(),
                    in_flight: vec![0; last - first],
                    free_at: Duration::ZERO,
                    out: Vec::new(),
                    flush: false,
                    byes: 0,
                    totals: (0, 0),
                });
            }
        }
    }
    let behind: Vec<Vec<u32>> = if nodes.is_empty() {
        (0..scenario.engines as u32).map(|e| vec![e]).collect()
    } else {
        nodes
            .iter()
            .map(|n| n.engines.iter().map(|&e| e as u32).collect())
            .collect()
    };
    let world = World {
        costs: Costs::new(params),
        window: scenario.window as usize,
        job: job.clone(),
        todo: todo.clone(),
        now: Duration::ZERO,
        cpu: Duration::ZERO,
        seq: 0,
        events: BinaryHeap::new(),
        inbox: BinaryHeap::new(),
        engines,
        nodes,
        busy: Duration::ZERO,
        received: 0,
    };
    let world = Rc::new(RefCell::new(world));
    {
        // Every engine starts its loop at time zero: with its share of a
        // fixed split, or waiting for its first orders.
        let mut w = world.borrow_mut();
        let workers = scenario.engines as u64;
        for e in 0..scenario.engines {
            if let Some(split) = job.split() {
                let mine = share(split, todo.len() as u64, workers, e as u64);
                let queue = mine.iter().map(|&i| todo[i as usize]);
                w.engines[e].queue.extend(queue);
            }
            w.step(e, Duration::ZERO);
        }
    }
    let mut sim = Sim(world.clone(), behind);
    let mut clock = Sim(world.clone(), Vec::new());
    let outcome = control(
        &mut sim,
        &mut clock,
        &Calm,
        &job,
        &todo,
        Duration::ZERO,
        &mut |_| Flow::Continue,
    );
    let w = world.borrow();
    let busy = w.busy;
    let efficiency = busy.as_secs_f64() / (scenario.engines as f64 * outcome.elapsed.as_secs_f64());
    Prediction {
        elapsed: outcome.elapsed,
        controller_cpu: outcome.controller_cpu,
        busy,
        efficiency,
        received: w.received,
    }
}
