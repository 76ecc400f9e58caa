//! Percentiles over measured durations.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0..=100) of `sorted`, which must be sorted ascending.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median of `sorted`.
pub fn median(sorted: &[Duration]) -> Duration {
    percentile(sorted, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn nearest_rank() {
        let d = ms(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(median(&d), Duration::from_millis(5));
        assert_eq!(percentile(&d, 90.0), Duration::from_millis(9));
        assert_eq!(percentile(&d, 99.0), Duration::from_millis(10));
        assert_eq!(percentile(&d, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
