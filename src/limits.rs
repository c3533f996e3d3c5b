//! Budgets of the public endpoints per client address ([`crate::budget`]), the
//! deduplication of what is recorded once (a refused join, a media link's first use),
//! and the bound on concurrent password checks. No HTTP here: the edges charge these
//! and turn a [`Limited`] into their own refusal (429, 503).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::budget::{ClientBudgets, HttpClass};

/// Clients tracked per class at once (each entry is a few dozen bytes).
const TRACKED_CLIENTS: usize = 10_000;

/// Password checks (Argon2id, about 19 MiB and tens of milliseconds each) running at
/// once; more wait, up to [`SIGN_IN_QUEUE`], and the rest are told to come back. The
/// process also forwards media: sign-in must never take its memory or its cores.
pub const SIGN_IN_CONCURRENCY: usize = 2;
/// Sign-ins waiting for a password check; beyond this they get 503 at once.
pub const SIGN_IN_QUEUE: usize = 8;

/// A client's address, as the edge determined it (behind trusted proxies, the
/// forwarded one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limited {
    /// Over budget: come back after this long.
    #[error("too many requests; try again in {} s", .0.as_secs().max(1))]
    TooMany(Duration),
    /// Too many requests of this kind are waiting already.
    #[error("{0}")]
    Busy(String),
}

/// Budgets of every public class, and the sign-in bounds.
#[derive(Debug)]
pub struct PublicLimits {
    budgets: Mutex<HashMap<HttpClass, ClientBudgets<IpAddr>>>,
    failures_by_name: Mutex<ClientBudgets<(IpAddr, String)>>,
    join_failures: Mutex<ClientBudgets<(uuid::Uuid, &'static str)>>,
    media_uses: Mutex<ClientBudgets<([u8; 32], String)>>,
    joins: Mutex<ClientBudgets<uuid::Uuid>>,
    password_checks: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    most_checks_at_once: AtomicUsize,
}

impl Default for PublicLimits {
    fn default() -> Self {
        Self {
            budgets: Mutex::new(HashMap::new()),
            failures_by_name: Mutex::new(ClientBudgets::new(
                HttpClass::SignInFailure.limits(),
                TRACKED_CLIENTS,
            )),
            join_failures: Mutex::new(ClientBudgets::new((1, 1.0 / 600.0), TRACKED_CLIENTS)),
            // A media link lives 15 minutes: its first use of a file is audited once
            // in that time, whatever byte range it asks for.
            media_uses: Mutex::new(ClientBudgets::new((1, 1.0 / 960.0), TRACKED_CLIENTS)),
            joins: Mutex::new(ClientBudgets::new(
                HttpClass::Rejoin.limits(),
                TRACKED_CLIENTS,
            )),
            password_checks: std::sync::Arc::new(Semaphore::new(SIGN_IN_CONCURRENCY)),
            waiting: AtomicUsize::new(0),
            most_checks_at_once: AtomicUsize::new(0),
        }
    }
}

/// A password check slot; dropping it frees the slot.
#[derive(Debug)]
pub struct PasswordCheck {
    _permit: OwnedSemaphorePermit,
}

impl PublicLimits {
    /// Charges one request of `class` from `client`; a 429 when over budget.
    pub fn charge(&self, class: HttpClass, client: ClientAddr) -> Result<(), Limited> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets
            .entry(class)
            .or_insert_with(|| ClientBudgets::new(class.limits(), TRACKED_CLIENTS))
            .charge(&client.0, Instant::now())
            .map_err(Limited::TooMany)
    }

    /// Refuses a sign-in from `client` for `username` while its failures are over
    /// budget (checked before the password, so a guesser learns nothing).
    pub fn sign_in_allowed(&self, client: ClientAddr, username: &str) -> Result<(), Limited> {
        let now = Instant::now();
        let mut by_name = self
            .failures_by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = by_name.is_exhausted(&(client.0, username.to_owned()), now) {
            return Err(Limited::TooMany(wait));
        }
        drop(by_name);
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = budgets
            .get_mut(&HttpClass::SignIn)
            .and_then(|b| b.is_exhausted(&client.0, now))
        {
            return Err(Limited::TooMany(wait));
        }
        Ok(())
    }

    /// Counts a failed sign-in against the client and against the client and name.
    pub fn sign_in_failed(&self, client: ClientAddr, username: &str) {
        let now = Instant::now();
        let _ = self
            .failures_by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .charge(&(client.0, username.to_owned()), now);
        let _ = self.charge(HttpClass::SignIn, client);
    }

    /// A successful sign-in clears the client's failures for that name.
    pub fn sign_in_succeeded(&self, client: ClientAddr, username: &str) {
        self.failures_by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(&(client.0, username.to_owned()));
    }

    /// Whether a refused join of `participant` for `reason` is the first in ten
    /// minutes (only that one is recorded).
    pub fn first_join_failure(&self, participant: uuid::Uuid, reason: &'static str) -> bool {
        self.join_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .charge(&(participant, reason), Instant::now())
            .is_ok()
    }

    /// Charges one signaling connection of `participant`: every join and leave is
    /// announced to the room (pages redraw their roster), so one link reconnecting in
    /// a loop would keep everyone's page busy. A page rejoining after a network cut
    /// (back-off 1, 2, 4, 8 s) stays well inside.
    pub fn charge_join(&self, participant: uuid::Uuid) -> Result<(), Limited> {
        self.joins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .charge(&participant, Instant::now())
            .map_err(Limited::TooMany)
    }

    /// Whether this is the first use of a media link for `file` (only that one is
    /// audited; a player's later range requests are not new downloads). Forgetting
    /// a link under memory pressure audits it again, never less.
    pub fn first_media_use(&self, token: &str, file: &str) -> bool {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.media_uses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .charge(&(key, file.to_owned()), Instant::now())
            .is_ok()
    }

    /// Waits for a password-check slot; a 503 at once when too many already wait.
    pub async fn password_check(&self) -> Result<PasswordCheck, Limited> {
        let busy = || Limited::Busy("too many sign-ins at once; try again in a moment".into());
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= SIGN_IN_QUEUE {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        let permit = tokio::time::timeout(
            Duration::from_secs(10),
            self.password_checks.clone().acquire_owned(),
        )
        .await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let permit = permit.map_err(|_| busy())?.map_err(|_| busy())?;
        let running = SIGN_IN_CONCURRENCY - self.password_checks.available_permits();
        self.most_checks_at_once
            .fetch_max(running, Ordering::SeqCst);
        Ok(PasswordCheck { _permit: permit })
    }

    /// The most password checks that ran at once since start.
    pub fn most_checks_at_once(&self) -> usize {
        self.most_checks_at_once.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_join_is_recorded_once_per_participant_reason_and_ten_minutes() {
        let limits = PublicLimits::default();
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert!(limits.first_join_failure(a, "expired"));
        assert!(
            (0..100).all(|_| !limits.first_join_failure(a, "expired")),
            "a page retrying an expired link writes one row"
        );
        assert!(
            limits.first_join_failure(a, "revoked"),
            "another reason is news"
        );
        assert!(
            limits.first_join_failure(b, "expired"),
            "another participant too"
        );
    }
}
