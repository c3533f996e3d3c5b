//! Budgets: what one client may make the server do, per connection (signaling) or
//! per client address (public HTTP endpoints). One mechanism for both: token buckets
//! per class of request, with time passed in, and a strike count that tells sustained
//! abuse from a burst. Pure: nothing here reads the clock or does I/O; the adapters
//! (`signaling::ws`, `http::limits`) carry out the verdicts.
//!
//! The numbers are in [`SignalingClass::limits`] and [`HttpClass::limits`], and
//! `docs/security.md` lists them with their reasons.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A token bucket: bursts up to `capacity`, then `per_second` events.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_second: f64) -> Self {
        Self {
            capacity: f64::from(capacity),
            per_second,
            tokens: f64::from(capacity),
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let refill = now.saturating_duration_since(last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.capacity);
        }
        self.last = Some(now);
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long until a token is available (zero when one is).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 || self.per_second <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }

    /// Whether the bucket is full again (its owner has been quiet long enough to be
    /// forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }
}

/// What a budget says about one message or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within budget: carry it out.
    Allow,
    /// Over budget: refuse it (or drop it, for silent classes), change nothing.
    Refuse,
    /// Sustained abuse: close the connection (audit once).
    Close,
}

/// The classes of signaling messages, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalingClass {
    /// `answer`, `candidate`: media negotiation.
    Negotiation,
    /// `renegotiate`: each one makes the SFU write an offer.
    Renegotiate,
    /// `preferLayer`: a tile resized now and then.
    Layer,
    /// `report`: a database write each; beyond the budget they are dropped silently.
    Report,
    /// `chat`: a database write and a broadcast each.
    Chat,
    /// Every session command (agenda, lobby, host controls, hands, scores, ratings).
    Command,
    /// Messages that could not be parsed.
    Malformed,
}

impl SignalingClass {
    /// (burst, per second) of each class. A person clicking as fast as they can
    /// stays well inside these; a loop does not.
    pub fn limits(self) -> (u32, f64) {
        match self {
            SignalingClass::Negotiation => (20, 10.0),
            SignalingClass::Renegotiate => (5, 2.0),
            SignalingClass::Layer => (20, 5.0),
            SignalingClass::Report => (2, 1.0),
            SignalingClass::Chat => (10, 2.0),
            SignalingClass::Command => (20, 5.0),
            // Malformed messages are refused anyway (and at most
            // `signaling::ws::MAX_PROTOCOL_ERRORS` of them are taken); a few are a
            // buggy page, many an attack (the strike count closes it).
            SignalingClass::Malformed => (10, 1.0),
        }
    }

    /// Over-budget messages of this class are dropped without a reply (reports:
    /// the page sends them on a timer and needs no answer).
    pub fn silent(self) -> bool {
        self == SignalingClass::Report
    }
}

/// Strikes: over-budget messages and refused commands. A burst of 30 is tolerated
/// (a page retrying after a hiccup), then one every 2 s; beyond that the connection
/// is closed.
const STRIKE_BURST: u32 = 30;
const STRIKES_PER_SECOND: f64 = 0.5;
/// Refusals written to the audit log per connection and command: the first one, then
/// one a minute; the rest are counted and reported in the closing entry. Every kind
/// of forbidden attempt is on record; a loop repeating one is not.
const AUDITED_REFUSALS_PER_SECOND: f64 = 1.0 / 60.0;

/// One signaling connection's budget.
#[derive(Debug)]
pub struct ConnectionBudget {
    buckets: HashMap<SignalingClass, TokenBucket>,
    strikes: TokenBucket,
    audited_refusals: HashMap<&'static str, TokenBucket>,
    /// Over-budget messages so far.
    pub over_budget: u64,
    /// Refusals not written to the audit log (reported when the connection closes).
    pub unaudited_refusals: u64,
}

impl Default for ConnectionBudget {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            strikes: TokenBucket::new(STRIKE_BURST, STRIKES_PER_SECOND),
            audited_refusals: HashMap::new(),
            over_budget: 0,
            unaudited_refusals: 0,
        }
    }
}

impl ConnectionBudget {
    /// Charges one message of `class`.
    pub fn charge(&mut self, class: SignalingClass, now: Instant) -> Verdict {
        let bucket = self.buckets.entry(class).or_insert_with(|| {
            let (burst, rate) = class.limits();
            TokenBucket::new(burst, rate)
        });
        if bucket.allow(now) {
            return Verdict::Allow;
        }
        self.over_budget += 1;
        self.strike(now)
    }

    /// Counts a refused command (forbidden, not applicable…) against the connection.
    pub fn strike(&mut self, now: Instant) -> Verdict {
        if self.strikes.allow(now) {
            Verdict::Refuse
        } else {
            Verdict::Close
        }
    }

    /// Whether a refusal of `action` should be written to the audit log (the first,
    /// then one a minute); the others are counted.
    pub fn audit_refusal(&mut self, action: &'static str, now: Instant) -> bool {
        let audited = self
            .audited_refusals
            .entry(action)
            .or_insert_with(|| TokenBucket::new(1, AUDITED_REFUSALS_PER_SECOND))
            .allow(now);
        if !audited {
            self.unaudited_refusals += 1;
        }
        audited
    }
}

/// The classes of public HTTP requests, budgeted per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpClass {
    /// `POST /api/v1/auth/login`: password guesses.
    SignIn,
    /// A failed sign-in, per client address and user name together.
    SignInFailure,
    /// Anonymous writes: help-video view counts.
    AnonymousWrite,
    /// Pages and reads anyone may make: join pages, invitations, the library.
    PublicRead,
    /// WHIP offers (each one an SDP parse and a connection on the media thread).
    Ingest,
    /// Signaling connections (each one a few database reads before the upgrade).
    Connect,
    /// Signaling connections of one participant (per link, not per address).
    Rejoin,
}

impl HttpClass {
    /// (burst, per second) of each class per client.
    pub fn limits(self) -> (u32, f64) {
        match self {
            // Ten tries, then one every 6 s: a person mistyping is never slowed.
            HttpClass::SignIn => (10, 1.0 / 6.0),
            // Five wrong passwords for one name, then one a minute.
            HttpClass::SignInFailure => (5, 1.0 / 60.0),
            HttpClass::AnonymousWrite => (20, 1.0),
            HttpClass::PublicRead => (120, 20.0),
            HttpClass::Ingest => (5, 0.2),
            // A whole panel behind one office NAT joins at once and pages reconnect
            // after a network cut: generous, but not a loop's pace.
            HttpClass::Connect => (200, 10.0),
            // Ten joins in a row, then one every 3 s.
            HttpClass::Rejoin => (10, 1.0 / 3.0),
        }
    }
}

/// Budgets per client key (an address, or an address and a name), bounded in size:
/// an attacker with many addresses cannot grow it without limit. Keys whose buckets
/// have refilled are forgotten first; when every key is still busy, the oldest entry
/// goes (an attacker who rotates addresses faster than that is limited by the
/// in-flight bounds of each endpoint instead).
#[derive(Debug)]
pub struct ClientBudgets<K> {
    entries: HashMap<K, (TokenBucket, Instant)>,
    capacity: usize,
    limits: (u32, f64),
}

impl<K: Eq + Hash + Clone> ClientBudgets<K> {
    /// Budgets of `limits` for at most `capacity` clients at once.
    pub fn new(limits: (u32, f64), capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            limits,
        }
    }

    /// Charges one request of `key`; `Err(wait)` when over budget.
    pub fn charge(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if !self.entries.contains_key(key) && self.entries.len() >= self.capacity {
            self.evict(now);
        }
        let (burst, rate) = self.limits;
        let (bucket, seen) = self
            .entries
            .entry(key.clone())
            .or_insert_with(|| (TokenBucket::new(burst, rate), now));
        *seen = now;
        if bucket.allow(now) {
            Ok(())
        } else {
            Err(bucket.wait(now).max(Duration::from_secs(1)))
        }
    }

    /// Whether `key` would be over budget now, without charging it.
    pub fn is_exhausted(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let (bucket, _) = self.entries.get_mut(key)?;
        let wait = bucket.wait(now);
        (!wait.is_zero()).then_some(wait.max(Duration::from_secs(1)))
    }

    /// Forgets `key` (a successful sign-in clears its failures).
    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    fn evict(&mut self, now: Instant) {
        self.entries.retain(|_, (bucket, _)| !bucket.is_full(now));
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, seen))| *seen)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }

    /// Clients tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_its_rate() {
        let t0 = Instant::now();
        let mut t = TokenBucket::new(3, 2.0);
        assert!((0..3).all(|_| t.allow(t0)), "a burst of three");
        assert!(!t.allow(t0));
        assert!(!t.allow(t0 + Duration::from_millis(400)), "0.8 of a token");
        assert!(t.allow(t0 + Duration::from_millis(500)));
        assert!(!t.allow(t0 + Duration::from_millis(500)));
        assert!(
            (0..3).all(|_| t.allow(t0 + Duration::from_secs(60))),
            "refills to capacity only"
        );
        assert!(!t.allow(t0 + Duration::from_secs(60)));
    }

    #[test]
    fn a_person_clicking_fast_is_never_refused() {
        // A host clicking ten times a second for three seconds (admit, mute, advance).
        let t0 = Instant::now();
        let mut budget = ConnectionBudget::default();
        let mut refused = 0;
        for i in 0..30u32 {
            let at = t0 + Duration::from_millis(u64::from(i) * 100);
            if budget.charge(SignalingClass::Command, at) != Verdict::Allow {
                refused += 1;
            }
        }
        assert!(refused <= 5, "{refused} of 30 clicks refused");
    }

    #[test]
    fn a_flood_is_refused_then_the_connection_is_closed() {
        let t0 = Instant::now();
        let mut budget = ConnectionBudget::default();
        let verdicts: Vec<Verdict> = (0..1000u32)
            .map(|i| {
                budget.charge(
                    SignalingClass::Command,
                    t0 + Duration::from_micros(u64::from(i) * 100),
                )
            })
            .collect();
        let allowed = verdicts.iter().filter(|v| **v == Verdict::Allow).count();
        assert!(allowed <= 21, "{allowed} allowed in 0.1 s");
        let first_close = verdicts
            .iter()
            .position(|v| *v == Verdict::Close)
            .expect("a flood is closed");
        assert!(first_close < 60, "closed after {first_close} messages");
    }

    #[test]
    fn each_kind_of_refusal_is_audited_once_then_counted() {
        let t0 = Instant::now();
        let mut budget = ConnectionBudget::default();
        let audited = (0..100)
            .filter(|_| budget.audit_refusal("mute", t0))
            .count();
        assert_eq!(audited, 1);
        assert!(
            budget.audit_refusal("admit", t0),
            "another command is its own record"
        );
        assert_eq!(budget.unaudited_refusals, 99);
        assert!(budget.audit_refusal("mute", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn client_budgets_stay_bounded_and_forget_quiet_clients() {
        let t0 = Instant::now();
        let mut budgets: ClientBudgets<u32> = ClientBudgets::new((2, 1.0), 100);
        for key in 0..10_000u32 {
            let _ = budgets.charge(&key, t0);
        }
        assert!(budgets.len() <= 100, "{} entries", budgets.len());
        // A client not seen before (which of the 10,000 were evicted is the map's
        // business): it gets its full budget, then waits.
        let fresh = 20_000;
        assert!(budgets.charge(&fresh, t0).is_ok());
        assert!(budgets.charge(&fresh, t0).is_ok());
        let wait = budgets.charge(&fresh, t0).expect_err("over budget");
        assert!(wait >= Duration::from_secs(1));
        assert!(budgets.is_exhausted(&fresh, t0).is_some());
        assert!(budgets.len() <= 100, "{} entries", budgets.len());
        budgets.forget(&fresh);
        assert!(budgets.charge(&fresh, t0).is_ok());
    }
}
