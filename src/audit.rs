//! The audit log's one writer. Every event goes into one queue and is appended, in
//! the order it was recorded, by one task (the store hash-chains each entry to the
//! last); whatever has queued up is written in one transaction, so a burst costs one
//! commit. Nothing is ever dropped: a failed append is retried with back-off until it
//! succeeds, loudly logged meanwhile.
//!
//! The queue is bounded where it matters: a participant whose entries are waiting to
//! be written beyond [`PER_ACTOR_LIMIT`] has their commands refused
//! ([`AuditLog::has_room_for`]), so a flood is refused at its source rather than any
//! record lost, and nobody else waits for it. Entries the server itself and
//! administrators cause are always taken (their rate is bounded by the budgets in
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

/// Entries of one participant waiting to be written beyond which their commands are
/// refused (a person acting causes a handful at a time).
pub const PER_ACTOR_LIMIT: usize = 32;
/// Entries waiting in all beyond which every participant's commands are refused (a
/// database that stopped taking writes), to bound the queue's memory.
pub const TOTAL_LIMIT: usize = 100_000;
/// Most entries written in one transaction.
const BATCH: usize = 256;

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
    /// Entries waiting per actor label.
    pending_by_actor: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    refused_for_backlog: AtomicU64,
}

impl Inner {
    fn written(&self, entries: &[NewAuditEntry]) {
        self.pending.fetch_sub(entries.len(), Ordering::SeqCst);
        let mut by_actor = self
            .pending_by_actor
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for entry in entries {
            if let Some(n) = by_actor.get_mut(&entry.actor) {
                *n -= 1;
                if *n == 0 {
                    by_actor.remove(&entry.actor);
                }
            }
        }
    }
}

impl AuditLog {
    /// Starts the writer on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let log = Self {
            inner: Arc::new(Inner {
                jobs,
                pending: AtomicUsize::new(0),
                pending_by_actor: Default::default(),
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
        *self
            .inner
            .pending_by_actor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(entry.actor.clone())
            .or_default() += 1;
        if let Err(mpsc::error::SendError(Job::Append(entry))) =
            self.inner.jobs.send(Job::Append(entry))
        {
            // Only after the writer stopped, at the very end of a shutdown.
            self.inner.written(std::slice::from_ref(&entry));
            tracing::error!(
                action,
                "AUDIT EVENT NOT RECORDED: the audit writer has stopped"
            );
        }
    }

    /// Whether a participant's command may run now: false while more than
    /// [`PER_ACTOR_LIMIT`] of their own entries wait to be written (or the whole
    /// queue is past [`TOTAL_LIMIT`]). The command is then refused, and counted, so
    /// that no audit entry is ever lost to a flood and nobody else is held up by it.
    pub fn has_room_for(&self, participant: Uuid) -> bool {
        let label = Actor::Participant(participant).label();
        let own = self
            .inner
            .pending_by_actor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&label)
            .copied()
            .unwrap_or(0);
        let room = own < PER_ACTOR_LIMIT && self.inner.pending.load(Ordering::SeqCst) < TOTAL_LIMIT;
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
    let mut batch: Vec<NewAuditEntry> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(job) = queue.recv().await {
        // Take whatever else is already queued: one transaction for the lot.
        let mut next = Some(job);
        while let Some(job) = next {
            match job {
                Job::Append(entry) => batch.push(entry),
                // A flush is answered once everything queued before it is written.
                Job::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        let mut wait = Duration::from_millis(50);
        while !batch.is_empty() {
            match store.append_audit_batch(&batch).await {
                Ok(_) => {
                    inner.written(&batch);
                    batch.clear();
                }
                Err(e) => {
                    tracing::error!(error = %e, entries = batch.len(), retry_in_ms = wait.as_millis() as u64, "audit events not written yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY_WAIT);
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}
