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
use crate::stability::{Direction, IntervalSample, quality};
use crate::state::AppState;

/// Stores a connection's new interval samples and tells the live quality.
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
    state.metrics.observe(&readings);
    let of = |d: Direction| readings.iter().find(|s| s.direction == d).map(quality);
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
            packets: i64::try_from(s.packets).unwrap_or(i64::MAX),
            lost: i64::try_from(s.lost).unwrap_or(i64::MAX),
            kbps: s.kbps,
            jitter_ms: s.jitter_ms,
            rtt_ms: s.rtt_ms,
            keyframes: i64::try_from(s.keyframes).unwrap_or(i64::MAX),
            freezes: i64::try_from(s.freezes).unwrap_or(i64::MAX),
        })
        .collect();
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_samples(&records).await {
            tracing::error!(error = %e, "stream samples not stored");
        }
    });
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
                    packets: u64::try_from(r.packets).unwrap_or(0),
                    lost: u64::try_from(r.lost).unwrap_or(0),
                    kbps: r.kbps,
                    jitter_ms: r.jitter_ms,
                    rtt_ms: r.rtt_ms,
                    keyframes: u64::try_from(r.keyframes).unwrap_or(0),
                    freezes: u64::try_from(r.freezes).unwrap_or(0),
                },
            )
        })
        .collect()
}
