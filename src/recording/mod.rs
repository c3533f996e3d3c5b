//! Recording, driven by sessions: starts and stops the media crate's [`Recorder`] for a
//! session, points the SFU's tap of the session's room at it, stores every part as it
//! is opened and closed, and queues post-production when a recording stops.
//!
//! Policy (who decides when) lives with the callers: a defense records from the
//! applicant's admission to the close unless its booking says otherwise; a training
//! session when the trainer (or host) turns it on; a host can always stop and restart.
//! This module only refuses to start when it would lose media silently: no GStreamer,
//! or less free disk than `[alerts] min_free_disk_mb`.

use std::path::{Path, PathBuf};

use chrono::Utc;
use media::recorder::{Recorder, RecorderConfig, RecorderEvent};
use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::alerts::Alert;
use crate::signaling::presence::PresenceEvent;
use crate::signaling::protocol::ServerMessage;
use crate::state::AppState;

/// Why a recording did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// GStreamer or its elements are missing.
    #[error("recording is unavailable on this server: {0}")]
    Unavailable(String),
    /// Not enough free disk.
    #[error("not enough disk space to record: {free_mb} MB free, {min_mb} MB required")]
    LowDisk {
        free_mb: u64,
        /// Required.
        min_mb: u64,
    },
    /// The database refused.
    #[error("the recording could not be registered: {0}")]
    Store(#[from] scheduler::StoreError),
}

pub mod registry;

use registry::Active;

/// The directory every recording lives under.
pub fn recordings_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("recordings")
}

/// Starts recording a session held in `room` (idempotent: an already running recording
/// is kept). Returns the recording's id.
pub async fn start(state: &AppState, session: Uuid, room: &str) -> Result<Uuid, StartError> {
    if let Some(active) = state.recordings.active().get(&session) {
        return Ok(active.recording);
    }
    match state.recorder.as_ref() {
        Ok(capability) if capability.can_record() => {}
        Ok(capability) => {
            return Err(StartError::Unavailable(format!(
                "GStreamer elements missing: {}",
                capability.missing_elements.join(", ")
            )));
        }
        Err(reason) => return Err(StartError::Unavailable(reason.clone())),
    }
    let settings = &state.settings;
    let free_mb = crate::alerts::free_disk_mb(&settings.data_dir).unwrap_or(u64::MAX);
    if free_mb < settings.min_free_disk_mb {
        let error = StartError::LowDisk {
            free_mb,
            min_mb: settings.min_free_disk_mb,
        };
        state.alerts.send(Alert {
            kind: "recorderFailed",
            message: error.to_string(),
            session_id: Some(session),
            participant_id: None,
            at: Utc::now(),
        });
        return Err(error);
    }
    let record = RecordingRecord {
        id: Uuid::new_v4(),
        session_id: session,
        started_at: Utc::now(),
        stopped_at: None,
        state: "recording".into(),
        error: None,
    };
    state.store.create_recording(&record).await?;
    run_recorder(state, record, room, None).await
}

/// After a restart: continues the session's open recording (state `recording`, left
/// by a crash or a planned stop) into new parts on the same timeline, so
/// post-production joins the parts across the gap (which stays black and silent) and
/// the chapters stay where they were; starts a new one when none is open.
pub async fn resume(state: &AppState, session: Uuid, room: &str) -> Result<Uuid, StartError> {
    if let Some(active) = state.recordings.active().get(&session) {
        return Ok(active.recording);
    }
    let open = state
        .store
        .recordings_of_session(session)
        .await?
        .into_iter()
        .rev()
        .find(|r| r.state == "recording");
    let Some(record) = open else {
        return start(state, session, room).await;
    };
    let continued = Utc::now();
    let offset = (continued - record.started_at).to_std().unwrap_or_default();
    let subdir = format!("continued-{}", continued.timestamp_millis());
    tracing::info!(%session, recording = %record.id, offset_s = offset.as_secs(), "recording continues after a restart");
    run_recorder(state, record, room, Some((subdir, offset))).await
}

/// Starts a recorder for `record`; `continuation` names the subdirectory of its new
/// parts and where on the recording's timeline they begin.
async fn run_recorder(
    state: &AppState,
    record: RecordingRecord,
    room: &str,
    continuation: Option<(String, std::time::Duration)>,
) -> Result<Uuid, StartError> {
    let session = record.session_id;
    let settings = &state.settings;
    let base = recordings_dir(&settings.data_dir);
    let mut relative = PathBuf::from(session.to_string()).join(record.id.to_string());
    let mut offset_base = std::time::Duration::ZERO;
    if let Some((subdir, offset)) = continuation {
        relative = relative.join(subdir);
        offset_base = offset;
    }
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let keyframes = {
        let (sfu, room) = (state.sfu.clone(), room.to_owned());
        Box::new(move |up_track| sfu.request_keyframe(&room, up_track))
    };
    let recorder = Recorder::start(
        RecorderConfig::new(base.join(&relative)),
        Box::new(move |event| {
            let _ = events_tx.send(event);
        }),
        keyframes,
    );
    let recorder = match recorder {
        Ok(recorder) => recorder,
        Err(e) => {
            let mut failed = record.clone();
            failed.state = "stopped".into();
            failed.stopped_at = Some(Utc::now());
            failed.error = Some(e.to_string());
            let _ = state.store.update_recording(&failed).await;
            return Err(StartError::Unavailable(e.to_string()));
        }
    };
    let suspended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let events = tokio::spawn(store_events(
        state.clone(),
        record.clone(),
        base,
        offset_base,
        suspended.clone(),
        events_rx,
    ));
    state.sfu.record(room, Some(recorder.tap()));
    state.recordings.active().insert(
        session,
        Active {
            recording: record.id,
            room: room.to_owned(),
            recorder,
            suspended,
            events,
        },
    );
    tracing::info!(%session, recording = %record.id, "recording started");
    Ok(record.id)
}

/// Stops a session's recording, if one runs. The parts are closed in the background;
/// post-production is queued once they are.
pub fn stop(state: &AppState, session: Uuid) -> bool {
    let Some(active) = state.recordings.active().remove(&session) else {
        return false;
    };
    state.sfu.record(&active.room, None);
    tracing::info!(%session, recording = %active.recording, "recording stopping");
    tokio::task::spawn_blocking(move || active.recorder.stop());
    true
}

/// The server stops on purpose (SIGTERM): every recording's parts are closed cleanly
/// (each gets its index), waiting until they are, but the recordings stay open: a
/// session still live when the server is back continues them ([`resume`]); one that
/// is over by then is closed by [`recover_interrupted`].
pub async fn suspend_all(state: &AppState) {
    let all: Vec<Active> = state.recordings.active().drain().map(|(_, a)| a).collect();
    let mut waits = Vec::new();
    for active in all {
        state.sfu.record(&active.room, None);
        active
            .suspended
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let recorder = active.recorder;
        let stopped = tokio::task::spawn_blocking(move || recorder.stop());
        waits.push((stopped, active.events));
    }
    // Every part's close is stored before the process may exit (bounded: a stuck
    // write must not hold a restart).
    for (stopped, events) in waits {
        let _ = stopped.await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), events).await;
    }
}

/// Recordings found in state `recording` at start, of sessions not resumed
/// (`continuing`), were cut off: their parts are on disk (and playable); mark them
/// interrupted and queue their post-production.
pub async fn recover_interrupted(
    state: &AppState,
    continuing: &[Uuid],
) -> Result<usize, scheduler::StoreError> {
    let cut: Vec<RecordingRecord> = state
        .store
        .recordings_in_state("recording")
        .await?
        .into_iter()
        .filter(|r| !continuing.contains(&r.session_id))
        .collect();
    for mut recording in cut.iter().cloned() {
        recording.state = "interrupted".into();
        recording.stopped_at = Some(Utc::now());
        recording.error = Some("the server stopped while recording".into());
        state.store.update_recording(&recording).await?;
        queue_production(state, recording.id).await?;
    }
    Ok(cut.len())
}

async fn queue_production(state: &AppState, recording: Uuid) -> Result<(), scheduler::StoreError> {
    if state.store.production_job_of(recording).await?.is_some() {
        return Ok(());
    }
    let job = ProductionJob::queued(recording, Utc::now());
    state.store.save_production_job(&job).await?;
    state.recordings.announce(job.id);
    Ok(())
}

/// Writes the recorder's events to the store, in order.
async fn store_events(
    state: AppState,
    mut record: RecordingRecord,
    base: PathBuf,
    offset_base: std::time::Duration,
    suspended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mut events: mpsc::UnboundedReceiver<RecorderEvent>,
) {
    let relative = |path: &Path| {
        path.strip_prefix(&base)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    };
    while let Some(event) = events.recv().await {
        let result = match event {
            RecorderEvent::PartOpened {
                track,
                index,
                path,
                offset,
                opened_at,
            } => {
                state
                    .store
                    .add_recording_part(&RecordingPart {
                        id: Uuid::new_v4(),
                        recording_id: record.id,
                        participant: track.label.clone(),
                        source: track.source.clone(),
                        codec: track.codec.encoding_name().to_owned(),
                        index: i64::from(index),
                        path: relative(&path),
                        offset_ms: (offset_base + offset).as_millis() as i64,
                        opened_at: opened_at.into(),
                        closed: false,
                        clean: false,
                        bytes: 0,
                    })
                    .await
            }
            RecorderEvent::PartClosed { path, bytes, clean } => {
                state
                    .store
                    .close_recording_part(&relative(&path), bytes as i64, clean)
                    .await
            }
            RecorderEvent::TrackFailed { track, reason } => {
                state.alerts.send(Alert {
                    kind: "recorderFailed",
                    message: format!("recording of a {} track failed: {reason}", track.source),
                    session_id: Some(record.session_id),
                    participant_id: track.label.parse().ok(),
                    at: Utc::now(),
                });
                Ok(())
            }
            RecorderEvent::Stopped if suspended.load(std::sync::atomic::Ordering::SeqCst) => {
                tracing::info!(recording = %record.id, "recording suspended for a restart");
                Ok(())
            }
            RecorderEvent::Stopped => {
                record.state = "stopped".into();
                record.stopped_at = Some(Utc::now());
                let stored = state.store.update_recording(&record).await;
                match stored {
                    Ok(()) => queue_production(&state, record.id).await,
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(recording = %record.id, error = %e, "recording event not stored");
        }
    }
}

/// Turns a room's recording on or off after its rules changed (the host's or
/// trainer's switch, a defense's admission or close). Starting may be refused (no
/// disk, no GStreamer): the room's switch goes back off, everyone sees it off, and
/// those who lead the room are told why.
pub fn switch(state: &AppState, room: Uuid, on: bool) {
    let session = state.days.current(room);
    if !on {
        stop(state, session);
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let Err(e) = start(&state, session, &room.to_string()).await else {
            return;
        };
        tracing::warn!(%session, error = %e, "recording refused");
        show_indicator(&state, room, false);
        let leaders = state.rooms.with(room, |r| r.leaders()).unwrap_or_default();
        for leader in leaders {
            state.presence.tell(
                room,
                leader,
                PresenceEvent::Notice(ServerMessage::error(
                    "recording_refused",
                    e.to_string(),
                    false,
                )),
            );
        }
    });
}

/// A defense's applicant was admitted: record from now to the close, unless the
/// booking said not to record or the room already records.
pub fn on_defense_admission(state: &AppState, session: Uuid, room: Uuid) {
    let state = state.clone();
    tokio::spawn(async move {
        let wanted = match state.store.recording_policy(session).await {
            Ok(policy) => policy.unwrap_or(true),
            Err(e) => {
                tracing::error!(%session, error = %e, "recording policy unreadable; recording");
                true
            }
        };
        if !wanted || state.recordings.is_recording(session) {
            return;
        }
        if show_indicator(&state, room, true) {
            switch(&state, room, true);
        }
    });
}

/// A session closed (defense agenda over, training ended): its recording stops.
pub fn on_close(state: &AppState, session: Uuid, room: Uuid) {
    if !stop(state, session) {
        return;
    }
    show_indicator(state, room, false);
}

/// Sets the room's recording switch on the system's behalf and, if that changed it,
/// tells everyone in the room. Returns whether it changed.
fn show_indicator(state: &AppState, room: Uuid, on: bool) -> bool {
    let changed = state
        .rooms
        .with(room, |r| r.force_recording(on))
        .unwrap_or(false);
    if changed {
        state
            .presence
            .broadcast(room, PresenceEvent::Notice(ServerMessage::Recording { on }));
    }
    changed
}

/// Deletes the media of recordings that stopped more than `[recording] retention_days`
/// ago (parts and produced files), keeping their rows and marking them expired.
/// Recordings published as help videos are kept while published. Returns how many
/// expired.
pub async fn sweep_expired(
    state: &AppState,
    now: chrono::DateTime<Utc>,
) -> Result<usize, scheduler::StoreError> {
    let days = state.settings.retention_days;
    if days == 0 {
        return Ok(0);
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let published: std::collections::HashSet<Uuid> = state
        .store
        .help_videos("", None)
        .await?
        .iter()
        .map(|v| v.recording_id)
        .collect();
    let mut expired = 0;
    for recording_state in ["stopped", "interrupted"] {
        for recording in state.store.recordings_in_state(recording_state).await? {
            let old = recording.stopped_at.is_some_and(|at| at < cutoff);
            if !old
                || published.contains(&recording.id)
                || state.store.recording_expired(recording.id).await?.is_some()
            {
                continue;
            }
            let dir = recordings_dir(&state.settings.data_dir)
                .join(recording.session_id.to_string())
                .join(recording.id.to_string());
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(recording = %recording.id, error = %e, "expired recording not deleted");
                    continue;
                }
            }
            state.store.expire_recording(recording.id, now).await?;
            state.audit.record(
                Some(recording.session_id),
                crate::audit::Actor::System,
                "recordingExpired",
                serde_json::json!({ "recordingId": recording.id, "retentionDays": days }),
            );
            expired += 1;
        }
    }
    Ok(expired)
}
