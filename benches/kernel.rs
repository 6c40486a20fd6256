//! Throughput of every sampling kernel on one core, against the scalar
//! reference and the idiomatic `rand` f64 loop a user would write.
//!
//! Each iteration counts one chunk of `POINTS` points; criterion's
//! throughput is points (samples) per second. `scripts/bench.sh` runs this
//! twice (default build and `-C target-cpu=native`) and prints the ratios.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mcpi::kernel::Kernel;
use rand::RngExt;
use std::hint::black_box;
use std::time::Duration;

/// Points per iteration: large enough that lane setup is negligible.
const POINTS: u64 = 1 << 20;

/// The baseline users would write: f64 pairs from the thread RNG.
fn rand_f64_loop(rng: &mut rand::rngs::ThreadRng, n: u64) -> u64 {
    let mut inside = 0;
    for _ in 0..n {
        let x: f64 = rng.random();
        let y: f64 = rng.random();
        inside += u64::from(x * x + y * y < 1.0);
    }
    inside
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    group
        .throughput(Throughput::Elements(POINTS))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    let mut chunk = 0u64;
    let dispatched = Kernel::select(None).expect("no MCPI_KERNEL override");
    group.bench_function(BenchmarkId::new("dispatched", dispatched.name()), |b| {
        b.iter(|| {
            chunk += 1;
            dispatched.count_inside(black_box(42), black_box(chunk), black_box(POINTS))
        })
    });
    for kernel in Kernel::ALL.into_iter().filter(|k| k.is_supported()) {
        group.bench_function(kernel.name(), |b| {
            b.iter(|| {
                chunk += 1;
                kernel.count_inside(black_box(42), black_box(chunk), black_box(POINTS))
            })
        });
    }
    #[cfg(target_arch = "x86_64")]
    if Kernel::Avx512.is_supported() {
        // The same kernel with the 64-bit multiply built from vpmuludq.
        group.bench_function("avx512-mul32", |b| {
            b.iter(|| {
                chunk += 1;
                mcpi::kernel::avx512::count_inside_mul32(
                    black_box(42),
                    black_box(chunk),
                    black_box(POINTS),
                )
            })
        });
    }
    let mut rng = rand::rng();
    group.bench_function("rand-f64", |b| {
        b.iter(|| rand_f64_loop(&mut rng, black_box(POINTS)))
    });
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
