//! The admin listener (`[admin] listen`, never the public one): Prometheus
//! `/metrics` and the detailed `/healthz`. Counters that live elsewhere (the media
//! plane's, presence, bookings) are read at scrape time; the histograms are
//! [`crate::metrics`]'s.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The admin listener's routes; with `fault_hooks`, also the supervision tests'
/// `POST /faults/media-stall?seconds=N` (blocks the media loop, as a hang would).
pub fn router(state: AppState, fault_hooks: bool) -> Router {
    let mut router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(super::health::detailed));
    if fault_hooks {
        router = router.route("/faults/media-stall", axum::routing::post(stall_media));
    }
    router.with_state(state)
}

#[derive(Debug, serde::Deserialize)]
struct Stall {
    seconds: u64,
}

async fn stall_media(
    State(state): State<AppState>,
    axum::extract::Query(stall): axum::extract::Query<Stall>,
) -> axum::http::StatusCode {
    let seconds = stall.seconds.min(600);
    tracing::warn!(seconds, "fault hook: stalling the media loop");
    state.sfu.stall(std::time::Duration::from_secs(seconds));
    axum::http::StatusCode::ACCEPTED
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
    media_metrics(&mut out, &sfu, state.presence.connected());
    gauge(
        &mut out,
        "viva_recordings_running",
        "gauge",
        "Recordings in progress.",
        state.recordings.running(),
    );
    store_metrics(&mut out, &state).await;
    gauge(
        &mut out,
        "viva_live_state_saved_timestamp_seconds",
        "gauge",
        "When live rooms were last saved for a restart (Unix time).",
        state.metrics.live_state_saved_seconds(),
    );
    gauge(
        &mut out,
        "viva_media_loop_silent_seconds",
        "gauge",
        "How long since the media loop last went round.",
        state.sfu.loop_silent_for().as_secs_f64(),
    );
    state.metrics.write_histograms(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// The media plane's gauges and counters, and its forwarding delay histogram.
fn media_metrics(out: &mut String, sfu: &media::sfu::SfuStats, signaling_connections: usize) {
    // One row per series (name, type, help, value): kept a table on purpose.
    #[rustfmt::skip]
    let series: [(&str, &str, &str, u64); 16] = [
        ("viva_rooms", "gauge", "Media rooms with anyone in them.", sfu.rooms as u64),
        ("viva_participants", "gauge", "Participants connected to the media plane.", sfu.participants as u64),
        ("viva_signaling_connections", "gauge", "Open signaling connections.", signaling_connections as u64),
        ("viva_up_tracks", "gauge", "Tracks received from publishers.", sfu.up_tracks as u64),
        ("viva_down_tracks", "gauge", "Tracks sent to subscribers.", sfu.down_tracks as u64),
        ("viva_forwarded_packets_total", "counter", "RTP packets forwarded to subscribers.", sfu.forwarded_packets),
        ("viva_forwarded_bytes_total", "counter", "RTP payload bytes forwarded to subscribers.", sfu.forwarded_bytes),
        ("viva_unroutable_datagrams_total", "counter", "UDP datagrams that matched no participant.", sfu.unroutable_datagrams),
        ("viva_unauthenticated_stun_total", "counter", "STUN checks naming a participant whose integrity did not verify (dropped).", sfu.unauthenticated_checks),
        ("viva_address_conflicts_total", "counter", "Authentic checks from an address another live participant uses (dropped).", sfu.address_conflicts),
        ("viva_tcp_dropped_total", "counter", "Packets for ICE-TCP peers dropped because their queue was full (they stopped reading).", sfu.tcp_dropped),
        ("viva_tcp_connections", "gauge", "ICE-TCP connections open now.", sfu.tcp_links as u64),
        ("viva_sent_datagrams_total", "counter", "UDP datagrams the media socket sent.", sfu.sent_datagrams),
        ("viva_dropped_datagrams_total", "counter", "Outgoing UDP datagrams dropped because the media socket's buffer was full.", sfu.dropped_datagrams),
        ("viva_send_calls_total", "counter", "sendmmsg calls that sent them (datagrams per call = batching).", sfu.send_calls),
        ("viva_layer_ceiling_changes_total", "counter", "Times a subscriber's link lowered or raised the highest simulcast layer it is sent, from the loss it reported.", sfu.layer_ceiling_changes),
    ];
    for (name, kind, help, value) in series {
        gauge(out, name, kind, help, value);
    }
    out.push_str(
        "# HELP viva_forward_delay_seconds Per forwarded RTP packet: from its arrival in \
         the media socket (kernel stamp) to its forwards being handed to the kernel.\n\
         # TYPE viva_forward_delay_seconds histogram\n",
    );
    let delay = &sfu.forward_delay;
    crate::metrics::write_histogram(
        out,
        "viva_forward_delay_seconds",
        "",
        delay
            .cumulative()
            .map(|(bound_us, n)| (bound_us as f64 / 1e6, n)),
        delay.sum_us as f64 / 1e6,
        delay.count,
    );
}

/// What the database counts: post-production jobs by state, and the month's bookings.
/// A failed read is logged and its series left out, never a failed scrape.
async fn store_metrics(out: &mut String, state: &AppState) {
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
            out,
            "viva_bookings_next_30_days",
            "gauge",
            "Sessions booked in the next 30 days.",
            n,
        ),
        Err(e) => tracing::warn!(error = %e, "bookings not counted for /metrics"),
    }
}
