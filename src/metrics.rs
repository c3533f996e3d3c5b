//! The histograms behind Prometheus `/metrics` (served by `http::admin` on the
//! separate admin listener): loss and RTT, fed by every 2-second stream sample.
//! Text exposition format 0.0.4, written by hand: a handful of series does not need
//! a metrics framework.

use std::fmt::Write as _;
use std::sync::Mutex;

use crate::stability::{Direction, IntervalSample};

/// Upper bounds of the loss histogram, in percent.
pub const LOSS_BUCKETS: [f64; 7] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Upper bounds of the RTT histogram, in milliseconds.
pub const RTT_BUCKETS: [f64; 7] = [25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.counts.len() != bounds.len() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, bound) in bounds.iter().enumerate() {
            if value <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str, bounds: &[f64]) {
        let cumulative = bounds
            .iter()
            .enumerate()
            .map(|(i, bound)| (*bound, self.counts.get(i).copied().unwrap_or(0)));
        write_histogram(out, name, labels, cumulative, self.sum, self.count);
    }
}

/// Writes one Prometheus histogram series: the cumulative `(upper bound, count)`
/// buckets, `+Inf`, sum and count. `labels` is empty or ends with a comma
/// (`direction="up",`).
pub fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    cumulative: impl IntoIterator<Item = (f64, u64)>,
    sum: f64,
    count: u64,
) {
    for (bound, n) in cumulative {
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
    let labels = labels.trim_end_matches(',');
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {sum}");
    let _ = writeln!(out, "{name}_count{braced} {count}");
}

/// The histograms fed by stream samples, and when live state was last saved.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    /// Unix milliseconds of the last completed save of live rooms (0: none yet).
    live_saved_ms: std::sync::atomic::AtomicI64,
}

#[derive(Debug, Default)]
struct Inner {
    loss_up: Histogram,
    loss_down: Histogram,
    rtt: Histogram,
}

impl Metrics {
    /// Live rooms were saved (with the heartbeat) at `at`.
    pub fn live_state_saved(&self, at: chrono::DateTime<chrono::Utc>) {
        self.live_saved_ms
            .store(at.timestamp_millis(), std::sync::atomic::Ordering::Relaxed);
    }

    /// When live rooms were last saved, in Unix seconds (0: not yet).
    pub fn live_state_saved_seconds(&self) -> f64 {
        self.live_saved_ms
            .load(std::sync::atomic::Ordering::Relaxed) as f64
            / 1000.0
    }

    /// Records interval samples.
    pub fn observe(&self, samples: &[IntervalSample]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for s in samples {
            let loss = s.loss() * 100.0;
            match s.direction {
                Direction::Up => inner.loss_up.observe(&LOSS_BUCKETS, loss),
                Direction::Down => inner.loss_down.observe(&LOSS_BUCKETS, loss),
            }
            if let Some(rtt) = s.rtt_ms {
                inner.rtt.observe(&RTT_BUCKETS, rtt);
            }
        }
    }

    /// Writes the loss and RTT histograms in the exposition format.
    pub fn write_histograms(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP viva_stream_loss_percent Packet loss per 2 s interval and direction, its tracks pooled (uplink counted on the wire, downlink before repair from the subscriber's NACKs and receiver reports).\n# TYPE viva_stream_loss_percent histogram\n");
        inner.loss_up.write(
            out,
            "viva_stream_loss_percent",
            "direction=\"up\",",
            &LOSS_BUCKETS,
        );
        inner.loss_down.write(
            out,
            "viva_stream_loss_percent",
            "direction=\"down\",",
            &LOSS_BUCKETS,
        );
        out.push_str("# HELP viva_stream_rtt_milliseconds Round-trip time per 2 s interval.\n# TYPE viva_stream_rtt_milliseconds histogram\n");
        inner
            .rtt
            .write(out, "viva_stream_rtt_milliseconds", "", &RTT_BUCKETS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        for v in [0.0, 1.5, 7.0, 99.0] {
            h.observe(&LOSS_BUCKETS, v);
        }
        let mut out = String::new();
        h.write(&mut out, "x", "d=\"up\",", &LOSS_BUCKETS);
        assert!(out.contains("x_bucket{d=\"up\",le=\"0.5\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{d=\"up\",le=\"2\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{d=\"up\",le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("x_bucket{d=\"up\",le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_sum{d=\"up\"} 107.5\n"), "{out}");
        assert!(out.contains("x_count{d=\"up\"} 4\n"), "{out}");
    }
}
