//! What the Rust benchmarks share, each piece written once:
//!
//! - [`app`]: every item the benchmarks take from the `api` crate (named there
//!   and nowhere else, so a module moved in `api` is followed in one file),
//!   the settings an app starts from, building it, its workers, stopping it.
//! - [`db`]: a fresh database per run (an SQLite file, or a database created
//!   on a PostgreSQL server), which of the two a run uses, vacuuming, dropping.
//! - [`rows`]: seed rows inserted directly.
//! - [`fake`]: a fake provider served on a thread of its own; closed-loop
//!   callers for a fake's bare rate; waiting for a fake's counter.
//! - [`cpu`]: CPU time from `/proc` (this process, PostgreSQL's processes, the
//!   machine) and the load average.
//! - [`stats`]: the percentile, also used by the load generator in
//!   `bench/load/`.
//!
//! Each benchmark includes it with `#[path = "…/common/mod.rs"] mod common;`;
//! not every benchmark uses every item.
#![allow(dead_code)]

pub mod app;
pub mod cpu;
pub mod db;
pub mod fake;
pub mod rows;
pub mod stats;

/// The variable `name` parsed as a `T`, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The variable `name` as a comma list of positive counts (`default` when
/// unset); entries that are not positive integers are left out.
pub fn env_counts(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .collect()
}
