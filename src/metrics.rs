//! Prometheus metrics for operators, served on the separate admin listener
//! (`[admin] listen`, never on the public one). Counters that live elsewhere (the media
//! plane's, presence, bookings) are read at scrape time; the loss and RTT histograms
//! are fed by every 2-second stream sample. Text exposition format 0.0.4, written by
//! hand: a handful of series does not need a metrics framework.

use std::fmt::Write as _;
use std::sync::Mutex;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::stability::{Direction, IntervalSample};
use crate::state::AppState;

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
fn write_histogram(
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

/// The histograms fed by stream samples.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    loss_up: Histogram,
    loss_down: Histogram,
    rtt: Histogram,
}

impl Metrics {
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

    fn write_histograms(&self, out: &mut String) {
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

/// The admin listener's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(crate::http::health::detailed))
        .with_state(state)
}

fn gauge(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    let sfu = state.sfu.stats().await.unwrap_or_default();
    gauge(
        &mut out,
        "viva_rooms",
        "gauge",
        "Media rooms with anyone in them.",
        sfu.rooms,
    );
    gauge(
        &mut out,
        "viva_participants",
        "gauge",
        "Participants connected to the media plane.",
        sfu.participants,
    );
    gauge(
        &mut out,
        "viva_signaling_connections",
        "gauge",
        "Open signaling connections.",
        state.presence.connected(),
    );
    gauge(
        &mut out,
        "viva_up_tracks",
        "gauge",
        "Tracks received from publishers.",
        sfu.up_tracks,
    );
    gauge(
        &mut out,
        "viva_down_tracks",
        "gauge",
        "Tracks sent to subscribers.",
        sfu.down_tracks,
    );
    gauge(
        &mut out,
        "viva_forwarded_packets_total",
        "counter",
        "RTP packets forwarded to subscribers.",
        sfu.forwarded_packets,
    );
    gauge(
        &mut out,
        "viva_forwarded_bytes_total",
        "counter",
        "RTP payload bytes forwarded to subscribers.",
        sfu.forwarded_bytes,
    );
    gauge(
        &mut out,
        "viva_unroutable_datagrams_total",
        "counter",
        "UDP datagrams that matched no participant.",
        sfu.unroutable_datagrams,
    );
    gauge(
        &mut out,
        "viva_unauthenticated_stun_total",
        "counter",
        "STUN checks naming a participant whose integrity did not verify (dropped).",
        sfu.unauthenticated_checks,
    );
    gauge(
        &mut out,
        "viva_address_conflicts_total",
        "counter",
        "Authentic checks from an address another live participant uses (dropped).",
        sfu.address_conflicts,
    );
    gauge(
        &mut out,
        "viva_tcp_dropped_total",
        "counter",
        "Packets for ICE-TCP peers dropped because their queue was full (they stopped reading).",
        sfu.tcp_dropped,
    );
    gauge(
        &mut out,
        "viva_tcp_connections",
        "gauge",
        "ICE-TCP connections open now.",
        sfu.tcp_links,
    );
    gauge(
        &mut out,
        "viva_sent_datagrams_total",
        "counter",
        "UDP datagrams the media socket sent.",
        sfu.sent_datagrams,
    );
    gauge(
        &mut out,
        "viva_dropped_datagrams_total",
        "counter",
        "Outgoing UDP datagrams dropped because the media socket's buffer was full.",
        sfu.dropped_datagrams,
    );
    gauge(
        &mut out,
        "viva_send_calls_total",
        "counter",
        "sendmmsg calls that sent them (datagrams per call = batching).",
        sfu.send_calls,
    );
    gauge(
        &mut out,
        "viva_layer_ceiling_changes_total",
        "counter",
        "Times a subscriber's link lowered or raised the highest simulcast layer it is \
         sent, from the loss it reported.",
        sfu.layer_ceiling_changes,
    );
    out.push_str(
        "# HELP viva_forward_delay_seconds Per forwarded RTP packet: from its arrival in \
         the media socket (kernel stamp) to its forwards being handed to the kernel.\n\
         # TYPE viva_forward_delay_seconds histogram\n",
    );
    let delay = &sfu.forward_delay;
    write_histogram(
        &mut out,
        "viva_forward_delay_seconds",
        "",
        delay
            .cumulative()
            .map(|(bound_us, n)| (bound_us as f64 / 1e6, n)),
        delay.sum_us as f64 / 1e6,
        delay.count,
    );
    gauge(
        &mut out,
        "viva_recordings_running",
        "gauge",
        "Recordings in progress.",
        state.recordings.running(),
    );
    out.push_str("# HELP viva_postproduction_jobs Post-production jobs by state.\n# TYPE viva_postproduction_jobs gauge\n");
    for job_state in ["queued", "running", "failed"] {
        match state.store.production_jobs(job_state).await {
            Ok(jobs) => {
                let _ = writeln!(
                    out,
                    "viva_postproduction_jobs{{state=\"{job_state}\"}} {}",
                    jobs.len()
                );
            }
            Err(e) => tracing::warn!(error = %e, "post-production jobs not counted for /metrics"),
        }
    }
    let now = chrono::Utc::now();
    let upcoming = state
        .store
        .sessions_between(now, now + chrono::Duration::days(30))
        .await
        .map(|s| s.iter().filter(|s| !s.cancelled).count());
    match upcoming {
        Ok(n) => gauge(
            &mut out,
            "viva_bookings_next_30_days",
            "gauge",
            "Sessions booked in the next 30 days.",
            n,
        ),
        Err(e) => tracing::warn!(error = %e, "bookings not counted for /metrics"),
    }
    state.metrics.write_histograms(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
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
