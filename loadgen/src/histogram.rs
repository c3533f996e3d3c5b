//! A latency histogram with bounded relative error and fixed memory: values in
//! microseconds go into log-linear buckets (16 linear sub-buckets per power of two, so
//! a reported percentile is within 1/16 ≈ 6% above the true value). Pure.

/// Sub-buckets per power of two.
const SUB: u64 = 16;
/// Powers of two covered: up to 2^40 µs, far beyond anything measured.
const POWERS: usize = 40;

/// Counts of latencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; POWERS * SUB as usize],
            total: 0,
            max: 0,
        }
    }

    /// Records one value in microseconds.
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1): the upper edge of the bucket holding it,
    /// never more than the largest value recorded. None when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(upper_edge(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

fn index(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros() as u64; // ≥ 4
    let shift = power - 4; // SUB = 2^4 sub-buckets
    let sub = (micros >> shift) - SUB;
    (((power - 3) * SUB + sub) as usize).min(POWERS * SUB as usize - 1)
}

fn upper_edge(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let power = index / SUB + 3;
    let sub = index % SUB;
    let shift = power - 4;
    ((SUB + sub + 1) << shift) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..16 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(7));
        assert_eq!(h.quantile(1.0), Some(15));
    }

    #[test]
    fn percentiles_are_within_the_bucket_error() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, truth) in [(0.5, 50_000.0), (0.99, 99_000.0), (0.999, 99_900.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!(
                got >= truth && got <= truth * (1.0 + 1.0 / 16.0),
                "{q}: {got}"
            );
        }
        assert_eq!(h.quantile(1.0), Some(100_000), "capped at the maximum");
    }

    #[test]
    fn every_value_lands_in_a_bucket_whose_edge_is_not_below_it() {
        for v in [16u64, 17, 31, 32, 33, 1000, 65_535, 1 << 30, u64::MAX / 4] {
            let i = index(v);
            assert!(upper_edge(i) >= v || i == POWERS * SUB as usize - 1, "{v}");
            if i > 0 {
                assert!(upper_edge(i - 1) < v, "{v} belongs to an earlier bucket");
            }
        }
    }

    #[test]
    fn merged_histograms_count_both() {
        let (mut a, mut b) = (Histogram::new(), Histogram::new());
        a.record(10);
        b.record(1000);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(1.0), Some(1000));
        assert_eq!(Histogram::new().quantile(0.5), None);
    }
}
