//! The live defenses, one state machine per session, held in memory by the server.
//! (A restart loses the phase but not the lobby's media enforcement, which a rejoin
//! re-establishes; persisting live state belongs with reconnection work.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use uuid::Uuid;

use super::defense::{Defense, Effect, Phase};

/// Live defenses by session id.
#[derive(Debug, Default)]
pub struct Defenses {
    inner: Mutex<HashMap<Uuid, Defense>>,
}

impl Defenses {
    /// Creates the session's defense on first use.
    pub fn ensure(&self, session: Uuid, create: impl FnOnce() -> Defense) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entry(session).or_insert_with(create);
    }

    /// Runs `f` on the session's defense, if there is one.
    pub fn with<R>(&self, session: Uuid, f: impl FnOnce(&mut Defense) -> R) -> Option<R> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.get_mut(&session).map(f)
    }

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
