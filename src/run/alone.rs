//! One rank alone: it computes every chunk in order, checking for signals
//! between chunks (the serial baseline).

use super::transport::{Alarm, ChunkResult, Clock};
use super::{row, straggle, Flow, News, Outcome};
use crate::config::Job;

/// Computes the chunks `todo` with `work`, calling `on_news` with each, until
/// done, until `alarm` goes off or until `on_news` has enough. `work` gives
/// a chunk up (`None`) on a second signal: the session ends at once.
pub(crate) fn run_alone(
    clock: &mut impl Clock,
    alarm: &impl Alarm,
    job: &Job,
    todo: &[u64],
    work: &mut dyn FnMut(u64) -> Option<ChunkResult>,
    on_news: &mut dyn FnMut(News) -> Flow,
) -> Outcome {
    // Times count from the clock's origin: the start of the parallel section.
    let cpu = clock.cpu();
    let mut signal = None;
    let mut hurried = false;
    for &chunk in todo {
        if let Some(s) = alarm.caught() {
            signal = Some(s);
            break;
        }
        let dispatch_s = clock.now().as_secs_f64();
        let Some(result) = work(chunk) else {
            (signal, hurried) = (alarm.caught(), true);
            break;
        };
        let result = straggle(clock, alarm, job.slow(0), result);
        let done_s = clock.now().as_secs_f64();
        if on_news(News::Chunk(row(job, &result, 0, dispatch_s, done_s))) == Flow::Enough {
            break;
        }
    }
    Outcome {
        elapsed: clock.now(),
        controller_cpu: clock.cpu().saturating_sub(cpu),
        signal,
        stranded: Vec::new(),
        hurried,
    }
}
