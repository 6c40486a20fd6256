//! One rank alone: it computes every chunk in order, checking for signals
//! between chunks (the serial baseline).

use super::transport::{Alarm, ChunkResult, Clock};
use super::{row, News, Outcome};
use crate::config::Job;

/// Computes the chunks `todo` with `work`, calling `on_news` with each, until
/// done or until `alarm` goes off.
pub(crate) fn run_alone(
    clock: &impl Clock,
    alarm: &impl Alarm,
    job: &Job,
    todo: &[u64],
    work: &mut dyn FnMut(u64) -> ChunkResult,
    on_news: &mut dyn FnMut(News),
) -> Outcome {
    let start = clock.now();
    let cpu = clock.cpu();
    let since_start = || (clock.now() - start).as_secs_f64();
    let mut signal = None;
    for &chunk in todo {
        if let Some(s) = alarm.caught() {
            signal = Some(s);
            break;
        }
        let dispatch_s = since_start();
        let result = work(chunk);
        on_news(News::Chunk(row(job, &result, 0, dispatch_s, since_start())));
    }
    Outcome {
        elapsed: clock.now() - start,
        controller_cpu: clock.cpu().saturating_sub(cpu),
        signal,
        stranded: Vec::new(),
    }
}
