//! Where a connection's measurements go: interval samples are stored per session
//! (written in the background, never blocking signaling), connection events too, and
//! each participant's live quality (uplink and downlink separately) is sent to them
//! and to the session's hosts.

use chrono::Utc;
use scheduler::Role;
use scheduler::record::{ConnectionEvent, StreamSampleRecord};
use uuid::Uuid;

use super::presence::PresenceEvent;
use super::protocol::ServerMessage;
use crate::stability::{Direction, IntervalSample, pooled, quality, worst_rtt};
use crate::state::AppState;

/// Stores a connection's new interval samples (one per track) and tells the live
/// quality of each direction (its tracks pooled).
pub fn record(
    state: &AppState,
    session: Uuid,
    room: Uuid,
    participant: Uuid,
    readings: Vec<IntervalSample>,
) {
    if readings.is_empty() {
        return;
    }
    let directions = pooled(&readings);
    state.metrics.observe(&directions);
    let of = |d: Direction| directions.iter().find(|s| s.direction == d).map(quality);
    if let Some(worst) = [of(Direction::Up), of(Direction::Down)]
        .into_iter()
        .flatten()
        .max()
    {
        state
            .alerts
            .check(|c| c.on_quality(session, participant, worst, Utc::now()));
    }
    let message = ServerMessage::Quality {
        participant_id: participant,
        up: of(Direction::Up),
        down: of(Direction::Down),
    };
    state
        .presence
        .tell(room, participant, PresenceEvent::Notice(message.clone()));
    state
        .presence
        .broadcast_to(room, &[Role::Host], PresenceEvent::Notice(message));
    let records: Vec<StreamSampleRecord> = readings
        .into_iter()
        .map(|s| StreamSampleRecord {
            session_id: session,
            participant_id: participant,
            at: s.at,
            seconds: s.seconds,
            direction: match s.direction {
                Direction::Up => "up",
                Direction::Down => "down",
            }
            .to_owned(),
            track: s.track,
            packets: i64::try_from(s.packets).unwrap_or(i64::MAX),
            lost: i64::try_from(s.lost).unwrap_or(i64::MAX),
            kbps: s.kbps,
            jitter_ms: s.jitter_ms,
            rtt_ms: s.rtt_ms,
            keyframes: i64::try_from(s.keyframes).unwrap_or(i64::MAX),
            freezes: i64::try_from(s.freezes).unwrap_or(i64::MAX),
            frames: i64::try_from(s.frames).unwrap_or(i64::MAX),
            nacks: i64::try_from(s.nacks).unwrap_or(i64::MAX),
            plis: i64::try_from(s.plis).unwrap_or(i64::MAX),
        })
        .collect();
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_samples(&records).await {
            tracing::error!(error = %e, "stream samples not stored");
        }
    });
}

/// The path a connection's media takes, as the stability record names it: `relay`
/// when the browser's selected candidate is a TURN relay (only the browser knows), else
/// `tcp` or `udp` by how its media reached the SFU.
#[derive(Debug, Default)]
pub struct PathTracker {
    transport: Option<media::demux::Transport>,
    relayed: bool,
    recorded: Option<&'static str>,
    tcp_dropped: u64,
}

impl PathTracker {
    /// The path as known now.
    pub fn current(&self) -> Option<&'static str> {
        if self.relayed {
            return Some("relay");
        }
        self.transport.map(|t| match t {
            media::demux::Transport::Udp => "udp",
            media::demux::Transport::Tcp => "tcp",
        })
    }

    /// Packets dropped on its ICE-TCP connection so far.
    pub fn tcp_dropped(&self) -> u64 {
        self.tcp_dropped
    }

    /// Takes the SFU's reading; returns the path when it is new or changed.
    pub fn on_sample(&mut self, sample: &media::sfu::MediaSample) -> Option<&'static str> {
        if sample.transport.is_some() {
            self.transport = sample.transport;
        }
        self.tcp_dropped = self.tcp_dropped.max(sample.tcp_dropped);
        self.changed()
    }

    /// Takes the browser's selected local candidate type; returns the path when it is
    /// new or changed.
    pub fn on_browser(&mut self, candidate_type: Option<&str>) -> Option<&'static str> {
        if let Some(kind) = candidate_type {
            self.relayed = kind == "relay";
        }
        self.changed()
    }

    fn changed(&mut self) -> Option<&'static str> {
        let now = self.current();
        if now.is_some() && now != self.recorded {
            self.recorded = now;
            return now;
        }
        None
    }
}

/// Stores something that happened to a participant's connection.
pub fn connection_event(
    state: &AppState,
    session: Uuid,
    participant: Uuid,
    event: &str,
    detail: serde_json::Value,
) {
    let event = ConnectionEvent {
        session_id: session,
        participant_id: participant,
        at: Utc::now(),
        event: event.to_owned(),
        detail: detail.to_string(),
    };
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_connection_event(&event).await {
            tracing::error!(error = %e, "connection event not stored");
        }
    });
}

/// Turns stored samples back into interval samples for the stability verdict.
pub fn intervals(records: &[StreamSampleRecord]) -> Vec<(Uuid, IntervalSample)> {
    records
        .iter()
        .map(|r| {
            (
                r.participant_id,
                IntervalSample {
                    at: r.at,
                    seconds: r.seconds,
                    direction: if r.direction == "up" {
                        Direction::Up
                    } else {
                        Direction::Down
                    },
                    track: r.track.clone(),
                    packets: u64::try_from(r.packets).unwrap_or(0),
                    lost: u64::try_from(r.lost).unwrap_or(0),
                    kbps: r.kbps,
                    jitter_ms: r.jitter_ms,
                    rtt_ms: r.rtt_ms,
                    keyframes: u64::try_from(r.keyframes).unwrap_or(0),
                    freezes: u64::try_from(r.freezes).unwrap_or(0),
                    frames: u64::try_from(r.frames).unwrap_or(0),
                    nacks: u64::try_from(r.nacks).unwrap_or(0),
                    plis: u64::try_from(r.plis).unwrap_or(0),
                },
            )
        })
        .collect()
}

/// Compacts a session's 2-second samples into per-minute aggregates per participant,
/// direction and track: packets, losses, keyframes and freezes summed; bitrate averaged over
/// time; jitter and RTT at their worst. Pure.
pub fn compact_records(
    records: &[StreamSampleRecord],
    bucket_seconds: i64,
) -> Vec<StreamSampleRecord> {
    type Key = (Uuid, String, String, i64);
    let mut buckets: std::collections::BTreeMap<Key, StreamSampleRecord> =
        std::collections::BTreeMap::new();
    for r in records {
        let key = (
            r.participant_id,
            r.direction.clone(),
            r.track.clone(),
            r.at.timestamp().div_euclid(bucket_seconds.max(1)),
        );
        match buckets.get_mut(&key) {
            None => {
                buckets.insert(key, r.clone());
            }
            Some(b) => {
                let seconds = b.seconds + r.seconds;
                b.kbps = if seconds > 0.0 {
                    (b.kbps * b.seconds + r.kbps * r.seconds) / seconds
                } else {
                    0.0
                };
                b.seconds = seconds;
                b.at = b.at.max(r.at);
                b.packets += r.packets;
                b.lost += r.lost;
                b.keyframes += r.keyframes;
                b.freezes += r.freezes;
                b.frames += r.frames;
                b.nacks += r.nacks;
                b.plis += r.plis;
                b.jitter_ms = b.jitter_ms.max(r.jitter_ms);
                b.rtt_ms = worst_rtt(b.rtt_ms, r.rtt_ms);
            }
        }
    }
    let mut out: Vec<StreamSampleRecord> = buckets.into_values().collect();
    out.sort_by_key(|r| r.at);
    out
}

/// After a session: judges it on its raw samples, keeps the verdict, and replaces the
/// raw samples with per-minute aggregates. Returns whether anything was compacted.
pub async fn compact_session(
    state: &AppState,
    session: Uuid,
) -> Result<bool, scheduler::StoreError> {
    if state.store.session_verdict(session).await?.is_some() {
        return Ok(false);
    }
    let raw = state.store.samples(session).await?;
    if raw.is_empty() {
        return Ok(false);
    }
    let gaps = crate::stability::server_gaps_of(state.store.as_ref(), session).await?;
    let verdict = crate::stability::judge_session(&intervals(&raw), &gaps);
    let json = serde_json::to_string(&verdict).unwrap_or_default();
    let aggregates = compact_records(&raw, 60);
    state
        .store
        .compact_samples(session, &aggregates, verdict.stable, &json, Utc::now())
        .await?;
    tracing::info!(%session, raw = raw.len(), kept = aggregates.len(), stable = verdict.stable, "samples compacted");
    Ok(true)
}

/// Compacts every session that ended more than `after` ago (within the last week).
pub async fn compact_finished(state: &AppState, after: chrono::Duration) -> usize {
    let now = Utc::now();
    let sessions = match state
        .store
        .sessions_between(now - chrono::Duration::days(8), now)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "sessions for compaction not loaded");
            return 0;
        }
    };
    let mut done = 0;
    for s in sessions
        .iter()
        .filter(|s| s.ends_at() + chrono::Duration::minutes(s.buffer_minutes) + after < now)
    {
        match compact_session(state, s.id).await {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, session = %s.id, "compaction failed"),
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        participant: Uuid,
        direction: &str,
        second: i64,
        lost: i64,
        rtt: Option<f64>,
    ) -> StreamSampleRecord {
        StreamSampleRecord {
            session_id: Uuid::nil(),
            participant_id: participant,
            at: chrono::DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap(),
            seconds: 2.0,
            direction: direction.into(),
            track: if direction == "up" {
                "camera"
            } else {
                "b/camera"
            }
            .into(),
            packets: 100,
            lost,
            kbps: if second % 4 == 0 { 100.0 } else { 300.0 },
            jitter_ms: second as f64,
            rtt_ms: rtt,
            keyframes: 1,
            freezes: 0,
            frames: 30,
            nacks: 1,
            plis: 0,
        }
    }

    #[test]
    fn samples_compact_into_minutes_keeping_totals_and_worst_cases() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        // 1_800_000_000 is 20 s into a minute: seconds 40..=158 span three minutes.
        let mut raw: Vec<StreamSampleRecord> = (20..80)
            .map(|i| record(a, "up", 2 * i, i % 3, Some(i as f64)))
            .collect();
        raw.push(record(a, "down", 40, 0, None));
        raw.push(record(b, "up", 40, 5, None));
        // Another track in the same minute stays apart.
        raw.push(StreamSampleRecord {
            track: "microphone".into(),
            ..record(a, "up", 42, 7, None)
        });
        let out = compact_records(&raw, 60);
        let microphone: Vec<_> = out.iter().filter(|r| r.track == "microphone").collect();
        assert_eq!(microphone.len(), 1);
        assert_eq!((microphone[0].packets, microphone[0].lost), (100, 7));
        let up_a: Vec<_> = out
            .iter()
            .filter(|r| r.participant_id == a && r.direction == "up" && r.track == "camera")
            .collect();
        assert_eq!(up_a.len(), 3);
        assert_eq!(
            up_a.iter().map(|r| r.packets).sum::<i64>(),
            6000,
            "packets kept"
        );
        assert_eq!(
            up_a.iter().map(|r| r.lost).sum::<i64>(),
            raw.iter()
                .filter(|r| r.participant_id == a && r.track == "camera")
                .map(|r| r.lost)
                .sum::<i64>(),
            "losses kept"
        );
        assert!((up_a.iter().map(|r| r.seconds).sum::<f64>() - 120.0).abs() < 1e-9);
        assert!(
            up_a.iter().all(|r| (r.kbps - 200.0).abs() < 1e-9),
            "time-weighted mean"
        );
        assert_eq!(up_a.last().unwrap().rtt_ms, Some(79.0), "worst RTT");
        assert_eq!(out.len(), 6);
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;
    use media::demux::Transport;
    use media::sfu::MediaSample;

    fn over(transport: Transport, dropped: u64) -> MediaSample {
        MediaSample {
            transport: Some(transport),
            tcp_dropped: dropped,
            ..MediaSample::default()
        }
    }

    #[test]
    fn the_path_is_named_once_known_and_again_when_it_changes() {
        let mut path = PathTracker::default();
        assert_eq!(
            path.on_browser(Some("host")),
            None,
            "not known before the SFU says"
        );
        assert_eq!(path.on_sample(&over(Transport::Udp, 0)), Some("udp"));
        assert_eq!(path.on_sample(&over(Transport::Udp, 0)), None, "unchanged");
        assert_eq!(path.on_sample(&over(Transport::Tcp, 3)), Some("tcp"));
        assert_eq!(path.tcp_dropped(), 3);
        assert_eq!(
            path.on_browser(Some("relay")),
            Some("relay"),
            "the browser knows relays"
        );
        assert_eq!(
            path.on_sample(&over(Transport::Udp, 0)),
            None,
            "still relayed"
        );
        assert_eq!(path.current(), Some("relay"));
    }
}
