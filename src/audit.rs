//! The audit log's one writer. Every event goes into one queue and is appended, in
//! the order it was recorded, by one task (the store hash-chains each entry to the
//! last). Nothing is ever dropped: a failed append is retried with back-off until it
//! succeeds, loudly logged meanwhile.
//!
//! The queue is bounded where it matters: participants' commands are refused
//! ([`AuditLog::has_room`]) while more than [`SOFT_LIMIT`] entries wait, so a
//! flooding client is refused rather than any record lost. Entries the server itself
//! and administrators cause are always taken (their rate is bounded by the budgets in
//! front of them). Tests wait for the writer with [`AuditLog::flush`] instead of
//! polling. Details carry ids and codes, never tokens, passwords or names.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use scheduler::Store;
use scheduler::record::NewAuditEntry;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Who did something.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A session participant.
    Participant(Uuid),
    /// A signed-in administrator.
    Admin(String),
    /// The server itself (timers, start-up).
    System,
}

impl Actor {
    fn label(&self) -> String {
        match self {
            Actor::Participant(id) => format!("participant:{id}"),
            Actor::Admin(name) => format!("admin:{name}"),
            Actor::System => "system".to_owned(),
        }
    }
}

/// Entries waiting beyond which participants' commands are refused. At the measured
/// append rate on SQLite (a few thousand a second) this is under a second of work.
pub const SOFT_LIMIT: usize = 1024;

/// Longest wait between two attempts at an append that keeps failing.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

enum Job {
    Append(NewAuditEntry),
    Flush(oneshot::Sender<()>),
}

/// Handle to the audit writer. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jobs: mpsc::UnboundedSender<Job>,
    pending: AtomicUsize,
    refused_for_backlog: AtomicU64,
}

impl AuditLog {
    /// Starts the writer on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let log = Self {
            inner: Arc::new(Inner {
                jobs,
                pending: AtomicUsize::new(0),
                refused_for_backlog: AtomicU64::new(0),
            }),
        };
        tokio::spawn(write(store, queue, log.inner.clone()));
        log
    }

    /// Appends an event (in the background, in order, never dropped).
    pub fn record(
        &self,
        session: Option<Uuid>,
        actor: Actor,
        action: &str,
        detail: serde_json::Value,
    ) {
        let entry = NewAuditEntry {
            at: Utc::now(),
            session_id: session,
            actor: actor.label(),
            action: action.to_owned(),
            detail,
        };
        self.inner.pending.fetch_add(1, Ordering::SeqCst);
        if self.inner.jobs.send(Job::Append(entry)).is_err() {
            // Only after the writer stopped, at the very end of a shutdown.
            self.inner.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::error!(
                action,
                "AUDIT EVENT NOT RECORDED: the audit writer has stopped"
            );
        }
    }

    /// Whether a participant's command may run now: false while the writer is
    /// behind by more than [`SOFT_LIMIT`] entries (the command is then refused, and
    /// counted, so that no audit entry is ever lost to a flood).
    pub fn has_room(&self) -> bool {
        let room = self.inner.pending.load(Ordering::SeqCst) < SOFT_LIMIT;
        if !room {
            self.inner
                .refused_for_backlog
                .fetch_add(1, Ordering::Relaxed);
        }
        room
    }

    /// Entries not yet written.
    pub fn pending(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// Commands refused because the writer was behind.
    pub fn refused_for_backlog(&self) -> u64 {
        self.inner.refused_for_backlog.load(Ordering::Relaxed)
    }

    /// Returns once everything recorded before this call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.inner.jobs.send(Job::Flush(done)).is_ok() {
            let _ = written.await;
        }
    }
}

async fn write(store: Arc<dyn Store>, mut queue: mpsc::UnboundedReceiver<Job>, inner: Arc<Inner>) {
    while let Some(job) = queue.recv().await {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Append(entry) => {
                let mut wait = Duration::from_millis(50);
                while let Err(e) = store.append_audit(&entry).await {
                    tracing::error!(error = %e, action = %entry.action, retry_in_ms = wait.as_millis() as u64, "audit event not written yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
                inner.pending.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}
