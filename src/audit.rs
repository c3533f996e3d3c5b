//! Writing to the audit log from anywhere in the server without waiting for it: each
//! event is appended (hash-chained by the store) on a spawned task, and a failure is
//! logged loudly, never silently dropped. Details carry ids and codes, never tokens,
//! passwords or names.

use std::sync::Arc;

use chrono::Utc;
use scheduler::Store;
use scheduler::record::NewAuditEntry;
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

/// Appends an event to the audit log in the background.
pub fn record(
    store: &Arc<dyn Store>,
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
    let store = store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.append_audit(&entry).await {
            tracing::error!(error = %e, action = %entry.action, "AUDIT EVENT NOT RECORDED");
        }
    });
}
