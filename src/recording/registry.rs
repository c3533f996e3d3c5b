//! The recordings running on this server, by session, and the announcement of queued
//! post-production jobs. Starting and stopping them is `recording`'s business.

use std::collections::HashMap;
use std::sync::Mutex;

use media::recorder::Recorder;
use tokio::sync::mpsc;
use uuid::Uuid;

/// A running recording.
pub struct Active {
    /// Its id.
    pub recording: Uuid,
    /// The media room it taps.
    pub room: String,
    /// The recorder.
    pub recorder: Recorder,
    /// Set when the server stops on purpose mid-session: the parts are closed
    /// cleanly but the recording stays open, to be continued after the restart.
    pub suspended: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The task storing the recorder's events; it ends after the recorder's last.
    pub events: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("recording", &self.recording)
            .field("room", &self.room)
            .finish_non_exhaustive()
    }
}

/// The recordings running on this server.
#[derive(Default)]
pub struct Recordings {
    active: Mutex<HashMap<Uuid, Active>>,
    /// Tells post-production a job was queued.
    queued: Mutex<Option<mpsc::UnboundedSender<Uuid>>>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let active = self.active.lock().map(|a| a.len()).unwrap_or(0);
        f.debug_struct("Recordings")
            .field("active", &active)
            .finish()
    }
}

impl Recordings {
    /// Whether a session is being recorded.
    pub fn is_recording(&self, session: Uuid) -> bool {
        self.active().contains_key(&session)
    }

    /// How many recordings are running.
    pub fn running(&self) -> usize {
        self.active().len()
    }

    /// Where queued jobs are announced (post-production's worker listens).
    pub fn announce_jobs_to(&self, tx: mpsc::UnboundedSender<Uuid>) {
        *self.queued.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    /// The running recordings by session.
    pub fn active(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes post-production for a queued job.
    pub fn announce(&self, job: Uuid) {
        if let Some(tx) = self
            .queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            let _ = tx.send(job);
        }
    }
}
