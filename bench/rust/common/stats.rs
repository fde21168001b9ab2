//! The percentile every benchmark reports, the load generator in
//! `bench/load/` included (it takes this file alone: standard library only).

/// The nearest-rank percentile of `sorted` (ascending): the smallest value
/// with at least a `q` share of the values at or below it (`q` from 0 to 1;
/// 1 is the maximum). `T::default()` when `sorted` is empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
