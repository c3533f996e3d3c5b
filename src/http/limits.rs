//! Budgets of the public HTTP endpoints, per client address ([`crate::budget`]), and
//! the bound on concurrent password checks.
//!
//! The client address is the TCP peer, or, when the peer is one of the configured
//! `[http] trusted_proxies`, the rightmost address of `X-Forwarded-For` that is not a
//! trusted proxy (what a reverse proxy in front appends). Without trusted proxies the
//! header is ignored: a client cannot choose its own address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;
use crate::budget::{ClientBudgets, HttpClass};
use crate::state::AppState;

/// Clients tracked per class at once (each entry is a few dozen bytes).
const TRACKED_CLIENTS: usize = 10_000;

/// Password checks (Argon2id, about 19 MiB and tens of milliseconds each) running at
/// once; more wait, up to [`SIGN_IN_QUEUE`], and the rest are told to come back. The
/// process also forwards media: sign-in must never take its memory or its cores.
pub const SIGN_IN_CONCURRENCY: usize = 2;
/// Sign-ins waiting for a password check; beyond this they get 503 at once.
pub const SIGN_IN_QUEUE: usize = 8;

/// A request's client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            // Routers served without connection info (unit tests of a router) share
            // one budget.
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(client_address(
            peer,
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
            &state.settings.trusted_proxies,
        )))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, then the
/// rightmost forwarded address that is not one.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|h| !trusted.contains(h))
        .unwrap_or(peer)
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
    pub fn charge(&self, class: HttpClass, client: ClientAddr) -> Result<(), ApiError> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets
            .entry(class)
            .or_insert_with(|| ClientBudgets::new(class.limits(), TRACKED_CLIENTS))
            .charge(&client.0, Instant::now())
            .map_err(ApiError::too_many)
    }

    /// Refuses a sign-in from `client` for `username` while its failures are over
    /// budget (checked before the password, so a guesser learns nothing).
    pub fn sign_in_allowed(&self, client: ClientAddr, username: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut by_name = self
            .failures_by_name
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = by_name.is_exhausted(&(client.0, username.to_owned()), now) {
            return Err(ApiError::too_many(wait));
        }
        drop(by_name);
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(wait) = budgets
            .get_mut(&HttpClass::SignIn)
            .and_then(|b| b.is_exhausted(&client.0, now))
        {
            return Err(ApiError::too_many(wait));
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
    pub fn charge_join(&self, participant: uuid::Uuid) -> Result<(), ApiError> {
        self.joins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .charge(&participant, Instant::now())
            .map_err(ApiError::too_many)
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
    pub async fn password_check(&self) -> Result<PasswordCheck, ApiError> {
        let busy = || ApiError::Busy("too many sign-ins at once; try again in a moment".into());
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

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let forged = "198.51.100.1, 203.0.113.7";
        assert_eq!(
            client_address(client, [forged].into_iter(), &[proxy]),
            client,
            "an untrusted peer is the client, whatever it claims"
        );
        assert_eq!(
            client_address(proxy, [forged].into_iter(), &[proxy]),
            client,
            "the rightmost hop the proxy appended"
        );
        assert_eq!(
            client_address(proxy, std::iter::empty(), &[proxy]),
            proxy,
            "no header: the proxy itself"
        );
    }
}
