//! A planted panic, for the tests of what a panic does to a job. Debug
//! builds only: `MCPI_TEST_PANIC=R:N` makes rank R panic as it handles its
//! N-th chunk (rank 0 as it records it, an engine as it computes it).
//!
//! The release build has none of it: the trigger is compiled only under
//! `cfg(debug_assertions)`, which `cargo build --release` and `cargo install`
//! turn off and Cargo.toml's release profile leaves off (a test below checks
//! that it still does). The tests run the debug build `cargo test` makes.

/// The planted panic of this rank, if `MCPI_TEST_PANIC` names it.
pub(super) struct PlantedPanic {
    /// Chunks to go before the panic.
    #[cfg(debug_assertions)]
    left: Option<u64>,
}

impl PlantedPanic {
    #[cfg(debug_assertions)]
    pub(super) fn for_rank(rank: usize) -> PlantedPanic {
        let wanted = std::env::var("MCPI_TEST_PANIC").ok();
        let left = wanted.as_deref().and_then(|v| {
            let (r, n) = v.split_once(':')?;
            (r.parse::<usize>().ok()? == rank).then_some(n.parse().ok()?)
        });
        PlantedPanic { left }
    }

    #[cfg(not(debug_assertions))]
    pub(super) fn for_rank(_rank: usize) -> PlantedPanic {
        PlantedPanic {}
    }

    /// This rank handles `chunk`.
    #[cfg(debug_assertions)]
    pub(super) fn chunk(&mut self, chunk: u64) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(1);
            if *left == 0 {
                panic!("planted panic (MCPI_TEST_PANIC) at chunk {chunk}");
            }
        }
    }

    #[cfg(not(debug_assertions))]
    pub(super) fn chunk(&mut self, _chunk: u64) {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_release_profile_keeps_debug_assertions_off() {
        let manifest = include_str!("../../Cargo.toml");
        assert!(
            !manifest.contains("debug-assertions"),
            "the planted panic must not reach a release build"
        );
    }
}
