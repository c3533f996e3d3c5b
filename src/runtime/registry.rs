//! Live per-session state held in memory by the server: one entry per session that
//! someone joined (a defense's state machine, a room's rules). What people would
//! notice losing is saved by `rooms::live` and rebuilt at start; scores, chat,
//! ratings, phase changes and the audit log are written to the store as they happen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

use super::defense::{Defense, Effect, Phase};
use super::room::RoomRules;

/// Live state of type `T` by session id.
#[derive(Debug)]
pub struct Live<T> {
    inner: Mutex<HashMap<Uuid, T>>,
}

impl<T> Default for Live<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Live<T> {
    /// Creates the session's state on first use.
    pub fn ensure(&self, session: Uuid, create: impl FnOnce() -> T) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entry(session).or_insert_with(create);
    }

    /// Whether the session has live state.
    pub fn contains(&self, session: Uuid) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.contains_key(&session)
    }

    /// Every session (or room) with live state.
    pub fn ids(&self) -> Vec<Uuid> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.keys().copied().collect()
    }

    /// Runs `f` on the session's state, if there is one.
    pub fn with<R>(&self, session: Uuid, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.get_mut(&session).map(f)
    }
}

/// Live defenses.
pub type Defenses = Live<Defense>;
/// Live rooms' rules.
pub type Rooms = Live<RoomRules>;

impl Live<Defense> {
    /// The phase and the time left (or over) at `now`.
    pub fn snapshot(
        &self,
        session: Uuid,
        now: Instant,
    ) -> Option<(
        Phase,
        Option<Result<std::time::Duration, std::time::Duration>>,
    )> {
        self.with(session, |d| (d.phase(), d.remaining(now)))
    }

    /// Ticks every live defense; returns the effects per session.
    pub fn tick_all(&self, now: Instant) -> Vec<(Uuid, Vec<Effect>)> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .iter_mut()
            .map(|(id, d)| (*id, d.tick(now)))
            .filter(|(_, effects)| !effects.is_empty())
            .collect()
    }
}
