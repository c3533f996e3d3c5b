//! The defense session's rules as a pure state machine: agenda phases with
//! server-authoritative countdowns, the lobby, and score sheets. Time is passed in;
//! nothing here reads a clock, touches a socket or the database. The signaling layer
//! feeds it commands and carries out the [`Effect`]s (moving people between lobby and
//! room in the SFU, broadcasting the phase, storing phase changes and scores).
//!
//! Rules:
//! - Phases run lobby → presentation → Q&A → deliberation → scoring → closed. The host
//!   advances, goes back, or extends the current phase; a countdown reaching zero only
//!   reports overtime: nobody is ever cut off.
//! - One warning per phase when a minute is left.
//! - The applicant waits in the lobby until admitted, can be returned to it at any
//!   time, and is returned automatically when deliberation starts; during deliberation
//!   and scoring the applicant cannot be admitted.
//! - Only experts score, only during scoring, on the programme's criteria; a submitted
//!   sheet is locked until the host reopens it with a reason.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use scheduler::record::Criterion;
use uuid::Uuid;

/// Where the session is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    ts_rs::TS,
)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Not started; the panel gathers, the applicant waits.
    Lobby,
    /// The applicant presents.
    Presentation,
    /// The panel asks questions.
    Qa,
    /// The panel deliberates; the applicant is in the lobby.
    Deliberation,
    /// Experts fill in their score sheets.
    Scoring,
    /// Over.
    Closed,
}

impl Phase {
    fn next(self) -> Option<Phase> {
        Some(match self {
            Phase::Lobby => Phase::Presentation,
            Phase::Presentation => Phase::Qa,
            Phase::Qa => Phase::Deliberation,
            Phase::Deliberation => Phase::Scoring,
            Phase::Scoring => Phase::Closed,
            Phase::Closed => return None,
        })
    }

    fn previous(self) -> Option<Phase> {
        Some(match self {
            Phase::Lobby | Phase::Presentation => return None,
            Phase::Qa => Phase::Presentation,
            Phase::Deliberation => Phase::Qa,
            Phase::Scoring => Phase::Deliberation,
            Phase::Closed => Phase::Scoring,
        })
    }

    /// Whether the applicant may be in the room during this phase.
    pub fn applicant_may_be_present(self) -> bool {
        matches!(self, Phase::Lobby | Phase::Presentation | Phase::Qa)
    }
}

/// Minutes planned for each timed phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseBudget {
    pub presentation: Duration,
    /// Questions and answers.
    pub qa: Duration,
    pub deliberation: Duration,
    pub scoring: Duration,
}

impl PhaseBudget {
    fn of(&self, phase: Phase) -> Option<Duration> {
        match phase {
            Phase::Presentation => Some(self.presentation),
            Phase::Qa => Some(self.qa),
            Phase::Deliberation => Some(self.deliberation),
            Phase::Scoring => Some(self.scoring),
            Phase::Lobby | Phase::Closed => None,
        }
    }
}

/// An expert's sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSheet {
    /// One score per criterion, in the programme's order.
    pub scores: Vec<u32>,
    /// Free comment.
    pub comment: String,
    /// Locked once submitted.
    pub submitted: bool,
}

/// Why a command was refused. The signaling layer reports it to the sender and logs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Only the host may do this.
    #[error("only the host may do this")]
    NotHost,
    /// The applicant may not enter during this phase.
    #[error("the applicant cannot be admitted during {0:?}")]
    AdmissionClosed(Phase),
    /// There is no such phase to move to.
    #[error("there is no phase {0} {1:?}")]
    NoSuchPhase(&'static str, Phase),
    /// Scoring is not open.
    #[error("scores can only be submitted during scoring")]
    NotScoring,
    /// Only experts score.
    #[error("only experts score")]
    NotExpert,
    /// The sheet is locked.
    #[error("this score sheet is submitted and locked")]
    Locked,
    /// The sheet does not fit the criteria.
    #[error("{0}")]
    InvalidSheet(String),
    /// Reopening needs a reason.
    #[error("reopening a score sheet needs a reason")]
    ReasonRequired,
    /// Nothing to reopen.
    #[error("no submitted sheet to reopen")]
    NothingToReopen,
    /// An extension must be 1–60 minutes.
    #[error("an extension must be between 1 and 60 minutes")]
    BadExtension,
}

/// What the outside world must do after a command or a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// The phase changed (store it: it becomes a chapter of the recording).
    PhaseChanged {
        /// New phase.
        phase: Phase,
        /// When.
        at: Instant,
    },
    /// The applicant moves to the lobby (the SFU stops media both ways).
    ToLobby(Uuid),
    /// The applicant enters the room (the SFU starts media).
    ToRoom(Uuid),
    /// One minute left in the phase.
    OneMinuteLeft(Phase),
    /// The phase's time is used up; nobody is cut off.
    Overtime(Phase),
    /// The phase was extended.
    Extended {
        phase: Phase,
        /// Extra time.
        by: Duration,
    },
    /// A sheet was submitted (store it).
    ScoreSubmitted(Uuid),
    /// A sheet was reopened (store it with the reason).
    ScoreReopened {
        expert: Uuid,
        /// Why.
        reason: String,
    },
}

/// A defense's live state as saved for a restart ([`Defense::live`],
/// [`Defense::resume`]). Times are durations, not instants: an `Instant` means nothing
/// to the next process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefenseLive {
    /// The phase.
    pub phase: Phase,
    /// How long the phase had run when saved (`None` in the lobby).
    pub phase_elapsed_ms: Option<u64>,
    /// Extra time given to the phase.
    pub extension_secs: u64,
    /// The one-minute warning was given.
    pub warned: bool,
    /// Overtime was reported.
    pub overtime_reported: bool,
    /// The applicant was admitted.
    pub applicant_in_room: bool,
}

/// Who is in the session, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat {
    /// The secretary.
    Host,
    /// A panel member.
    Expert,
    /// The applicant.
    Applicant,
    /// Anyone else (observer).
    Other,
}

/// One defense in progress.
#[derive(Debug)]
pub struct Defense {
    phase: Phase,
    phase_started: Option<Instant>,
    extension: Duration,
    warned: bool,
    overtime_reported: bool,
    budget: PhaseBudget,
    criteria: Vec<Criterion>,
    seats: BTreeMap<Uuid, Seat>,
    applicant_in_room: bool,
    sheets: BTreeMap<Uuid, ScoreSheet>,
}

impl Defense {
    /// A defense in the lobby.
    pub fn new(budget: PhaseBudget, criteria: Vec<Criterion>, seats: BTreeMap<Uuid, Seat>) -> Self {
        Self {
            phase: Phase::Lobby,
            phase_started: None,
            extension: Duration::ZERO,
            warned: false,
            overtime_reported: false,
            budget,
            criteria,
            seats,
            applicant_in_room: false,
            sheets: BTreeMap::new(),
        }
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether the applicant is in the room (receives and sends media).
    pub fn applicant_in_room(&self) -> bool {
        self.applicant_in_room
    }

    /// Time left in the current phase at `now`; negative values are overtime (as
    /// `Err(overtime)`), `None` for untimed phases.
    pub fn remaining(&self, now: Instant) -> Option<Result<Duration, Duration>> {
        let budget = self.budget.of(self.phase)? + self.extension;
        let elapsed = now.saturating_duration_since(self.phase_started?);
        Some(if elapsed <= budget {
            Ok(budget - elapsed)
        } else {
            Err(elapsed - budget)
        })
    }

    fn require_host(&self, who: Uuid) -> Result<(), RuleError> {
        (self.seats.get(&who) == Some(&Seat::Host))
            .then_some(())
            .ok_or(RuleError::NotHost)
    }

    /// Whether `who` is the defense's applicant.
    pub fn is_applicant(&self, who: Uuid) -> bool {
        self.seats.get(&who) == Some(&Seat::Applicant)
    }

    /// The applicant's participant id.
    pub fn applicant(&self) -> Option<Uuid> {
        self.seats
            .iter()
            .find(|(_, s)| **s == Seat::Applicant)
            .map(|(id, _)| *id)
    }

    fn enter(&mut self, phase: Phase, now: Instant) -> Vec<Effect> {
        self.phase = phase;
        self.phase_started = Some(now);
        self.extension = Duration::ZERO;
        self.warned = false;
        self.overtime_reported = false;
        let mut effects = vec![Effect::PhaseChanged { phase, at: now }];
        if !phase.applicant_may_be_present()
            && self.applicant_in_room
            && let Some(applicant) = self.applicant()
        {
            self.applicant_in_room = false;
            effects.push(Effect::ToLobby(applicant));
        }
        effects
    }

    /// The host admits the applicant from the lobby.
    pub fn admit(&mut self, by: Uuid) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        if !self.phase.applicant_may_be_present() {
            return Err(RuleError::AdmissionClosed(self.phase));
        }
        match self.applicant() {
            Some(applicant) if !self.applicant_in_room => {
                self.applicant_in_room = true;
                Ok(vec![Effect::ToRoom(applicant)])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The panel day's queue admits this defense's applicant when it becomes current
    /// (no host needed; nothing happens if admission is closed or they are in).
    pub fn admit_from_queue(&mut self) -> Vec<Effect> {
        match self.applicant() {
            Some(applicant) if !self.applicant_in_room && self.phase.applicant_may_be_present() => {
                self.applicant_in_room = true;
                vec![Effect::ToRoom(applicant)]
            }
            _ => Vec::new(),
        }
    }

    /// The host sends the applicant back to the lobby.
    pub fn return_to_lobby(&mut self, by: Uuid) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        match self.applicant() {
            Some(applicant) if self.applicant_in_room => {
                self.applicant_in_room = false;
                Ok(vec![Effect::ToLobby(applicant)])
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The host moves to the next phase.
    pub fn advance(&mut self, by: Uuid, now: Instant) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        let next = self
            .phase
            .next()
            .ok_or(RuleError::NoSuchPhase("after", self.phase))?;
        Ok(self.enter(next, now))
    }

    /// The host goes back one phase (its countdown restarts).
    pub fn back(&mut self, by: Uuid, now: Instant) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        let previous = self
            .phase
            .previous()
            .ok_or(RuleError::NoSuchPhase("before", self.phase))?;
        Ok(self.enter(previous, now))
    }

    /// The host gives the current phase more time.
    pub fn extend(&mut self, by: Uuid, minutes: u32) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        if !(1..=60).contains(&minutes) || self.budget.of(self.phase).is_none() {
            return Err(RuleError::BadExtension);
        }
        let extra = Duration::from_secs(u64::from(minutes) * 60);
        self.extension += extra;
        self.warned = false;
        self.overtime_reported = false;
        Ok(vec![Effect::Extended {
            phase: self.phase,
            by: extra,
        }])
    }

    /// Time passes: reports the one-minute warning and overtime, once each per phase
    /// (again after an extension). Never ends a phase.
    pub fn tick(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        match self.remaining(now) {
            Some(Ok(left)) if left <= Duration::from_secs(60) && !self.warned => {
                self.warned = true;
                effects.push(Effect::OneMinuteLeft(self.phase));
            }
            Some(Err(_)) if !self.overtime_reported => {
                if !self.warned {
                    self.warned = true;
                    effects.push(Effect::OneMinuteLeft(self.phase));
                }
                self.overtime_reported = true;
                effects.push(Effect::Overtime(self.phase));
            }
            _ => {}
        }
        effects
    }

    /// An expert submits (and thereby locks) their sheet.
    pub fn submit(
        &mut self,
        expert: Uuid,
        scores: Vec<u32>,
        comment: String,
    ) -> Result<Vec<Effect>, RuleError> {
        if self.seats.get(&expert) != Some(&Seat::Expert) {
            return Err(RuleError::NotExpert);
        }
        if self.phase != Phase::Scoring {
            return Err(RuleError::NotScoring);
        }
        if self.sheets.get(&expert).is_some_and(|s| s.submitted) {
            return Err(RuleError::Locked);
        }
        if scores.len() != self.criteria.len() {
            return Err(RuleError::InvalidSheet(format!(
                "expected {} scores, got {}",
                self.criteria.len(),
                scores.len()
            )));
        }
        if let Some((c, s)) = self.criteria.iter().zip(&scores).find(|(c, s)| **s > c.max) {
            return Err(RuleError::InvalidSheet(format!(
                "{}: {s} is above the maximum {}",
                c.name, c.max
            )));
        }
        if comment.chars().count() > 2000 {
            return Err(RuleError::InvalidSheet(
                "comment longer than 2000 characters".into(),
            ));
        }
        self.sheets.insert(
            expert,
            ScoreSheet {
                scores,
                comment,
                submitted: true,
            },
        );
        Ok(vec![Effect::ScoreSubmitted(expert)])
    }

    /// The host reopens a submitted sheet, giving a reason (recorded).
    pub fn reopen(
        &mut self,
        by: Uuid,
        expert: Uuid,
        reason: &str,
    ) -> Result<Vec<Effect>, RuleError> {
        self.require_host(by)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RuleError::ReasonRequired);
        }
        let sheet = self
            .sheets
            .get_mut(&expert)
            .filter(|s| s.submitted)
            .ok_or(RuleError::NothingToReopen)?;
        sheet.submitted = false;
        Ok(vec![Effect::ScoreReopened {
            expert,
            reason: reason.to_owned(),
        }])
    }

    /// The programme's criteria, in order.
    pub fn criteria(&self) -> &[Criterion] {
        &self.criteria
    }

    /// An expert's sheet, if they submitted one.
    pub fn sheet(&self, expert: Uuid) -> Option<&ScoreSheet> {
        self.sheets.get(&expert)
    }

    /// The experts of this defense, in id order.
    pub fn experts(&self) -> Vec<Uuid> {
        self.seats
            .iter()
            .filter(|(_, s)| **s == Seat::Expert)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Puts back a sheet read from storage (after a restart), as it was stored.
    pub fn restore_sheet(&mut self, expert: Uuid, sheet: ScoreSheet) {
        if self.seats.get(&expert) == Some(&Seat::Expert) {
            self.sheets.insert(expert, sheet);
        }
    }

    /// What must outlive the server, at `now` (score sheets are stored on their own).
    pub fn live(&self, now: Instant) -> DefenseLive {
        DefenseLive {
            phase: self.phase,
            phase_elapsed_ms: self
                .phase_started
                .map(|started| now.saturating_duration_since(started).as_millis() as u64),
            extension_secs: self.extension.as_secs(),
            warned: self.warned,
            overtime_reported: self.overtime_reported,
            applicant_in_room: self.applicant_in_room,
        }
    }

    /// Resumes a defense saved as `live`, `away` after it was saved: the phase, its
    /// deadline (the clock kept running while the server was away), its extension, the
    /// warnings already given and the applicant's admission are as they were. No
    /// effect is produced: nothing changed for the people in the room.
    pub fn resume(&mut self, live: &DefenseLive, away: Duration, now: Instant) {
        self.phase = live.phase;
        self.phase_started = live.phase_elapsed_ms.map(|ms| {
            let elapsed = Duration::from_millis(ms) + away;
            now.checked_sub(elapsed).unwrap_or(now)
        });
        self.extension = Duration::from_secs(live.extension_secs);
        self.warned = live.warned;
        self.overtime_reported = live.overtime_reported;
        self.applicant_in_room = live.applicant_in_room
            && live.phase.applicant_may_be_present()
            && self.applicant().is_some();
    }

    /// The weighted total of each submitted sheet (0–100) and their mean, for the host.
    /// The applicant is never shown this; the signaling layer only sends it to hosts.
    pub fn aggregate(&self) -> (BTreeMap<Uuid, f64>, Option<f64>) {
        let totals: BTreeMap<Uuid, f64> = self
            .sheets
            .iter()
            .filter(|(_, s)| s.submitted)
            .filter_map(|(expert, sheet)| {
                scheduler::record::weighted_total(&self.criteria, &sheet.scores)
                    .map(|t| (*expert, t))
            })
            .collect();
        let mean = (!totals.is_empty()).then(|| totals.values().sum::<f64>() / totals.len() as f64);
        (totals, mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_defense_keeps_its_phase_deadline_warnings_and_admission() {
        let (host, expert, applicant) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let seats: BTreeMap<Uuid, Seat> = [
            (host, Seat::Host),
            (expert, Seat::Expert),
            (applicant, Seat::Applicant),
        ]
        .into();
        let budget = PhaseBudget {
            presentation: Duration::from_secs(15 * 60),
            qa: Duration::from_secs(10 * 60),
            deliberation: Duration::from_secs(600),
            scoring: Duration::from_secs(600),
        };
        let t0 = Instant::now();
        let mut before = Defense::new(budget, Criterion::defaults(), seats.clone());
        before.admit(host).unwrap();
        before.advance(host, t0).unwrap();
        before.advance(host, t0 + Duration::from_secs(60)).unwrap();
        before.extend(host, 2).unwrap();
        // Q&A began at t0+60 s with 10+2 minutes: saved 8 minutes in, 4 minutes left.
        let saved_at = t0 + Duration::from_secs(60 + 8 * 60);
        let live = before.live(saved_at);
        assert_eq!(live.phase, Phase::Qa);
        assert!(live.applicant_in_room);

        // The server is away for 7 s; a new process with its own clock resumes it.
        let away = Duration::from_secs(7);
        let later = saved_at + Duration::from_secs(3600);
        let mut after = Defense::new(budget, Criterion::defaults(), seats);
        after.resume(&live, away, later);
        assert_eq!(after.phase(), Phase::Qa);
        assert!(after.applicant_in_room(), "still admitted, no host action");
        assert_eq!(
            after.remaining(later),
            Some(Ok(Duration::from_secs(4 * 60) - away)),
            "the same deadline: the clock ran while the server was away"
        );
        assert_eq!(
            after.live(later + Duration::from_secs(1)).extension_secs,
            120
        );
        // No second warning for a minute already warned of, and the host can go on.
        assert!(after.tick(later).is_empty());
        let warned = after.tick(later + Duration::from_secs(3 * 60 + 50));
        assert_eq!(warned, vec![Effect::OneMinuteLeft(Phase::Qa)]);
        let mut again = Defense::new(budget, Criterion::defaults(), BTreeMap::new());
        again.resume(&after.live(later), Duration::ZERO, later);
        assert!(
            again
                .tick(later + Duration::from_secs(3 * 60 + 50))
                .is_empty(),
            "warned once"
        );
        assert!(after.advance(host, later).is_ok());
    }

    #[test]
    fn a_saved_lobby_or_deliberation_never_resumes_with_the_applicant_inside() {
        let (host, applicant) = (Uuid::new_v4(), Uuid::new_v4());
        let seats: BTreeMap<Uuid, Seat> = [(host, Seat::Host), (applicant, Seat::Applicant)].into();
        let budget = PhaseBudget {
            presentation: Duration::from_secs(60),
            qa: Duration::from_secs(60),
            deliberation: Duration::from_secs(60),
            scoring: Duration::from_secs(60),
        };
        let now = Instant::now();
        let mut d = Defense::new(budget, Criterion::defaults(), seats);
        let forged = DefenseLive {
            phase: Phase::Deliberation,
            phase_elapsed_ms: Some(1_000),
            extension_secs: 0,
            warned: false,
            overtime_reported: false,
            applicant_in_room: true,
        };
        d.resume(&forged, Duration::ZERO, now);
        assert!(!d.applicant_in_room());
        let lobby = Defense::new(budget, Criterion::defaults(), BTreeMap::new()).live(now);
        assert_eq!(lobby.phase_elapsed_ms, None);
        d.resume(&lobby, Duration::from_secs(30), now);
        assert_eq!(d.phase(), Phase::Lobby);
        assert_eq!(d.remaining(now), None);
    }

    struct Fixture {
        d: Defense,
        host: Uuid,
        expert: Uuid,
        applicant: Uuid,
        t0: Instant,
    }

    fn min(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    fn fixture() -> Fixture {
        let (host, expert, applicant) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let seats = BTreeMap::from([
            (host, Seat::Host),
            (expert, Seat::Expert),
            (applicant, Seat::Applicant),
        ]);
        let criteria = vec![
            Criterion {
                name: "创新性".into(),
                weight: 0.6,
                max: 10,
            },
            Criterion {
                name: "可行性".into(),
                weight: 0.4,
                max: 5,
            },
        ];
        let budget = PhaseBudget {
            presentation: min(15),
            qa: min(10),
            deliberation: min(5),
            scoring: min(5),
        };
        Fixture {
            d: Defense::new(budget, criteria, seats),
            host,
            expert,
            applicant,
            t0: Instant::now(),
        }
    }

    #[test]
    fn phases_run_in_order_and_only_the_host_moves_them() {
        let mut f = fixture();
        assert_eq!(f.d.advance(f.expert, f.t0), Err(RuleError::NotHost));
        let mut order = vec![f.d.phase()];
        for i in 0..5 {
            f.d.advance(f.host, f.t0 + min(i)).unwrap();
            order.push(f.d.phase());
        }
        assert_eq!(
            order,
            vec![
                Phase::Lobby,
                Phase::Presentation,
                Phase::Qa,
                Phase::Deliberation,
                Phase::Scoring,
                Phase::Closed
            ]
        );
        assert_eq!(
            f.d.advance(f.host, f.t0),
            Err(RuleError::NoSuchPhase("after", Phase::Closed))
        );
        f.d.back(f.host, f.t0).unwrap();
        assert_eq!(f.d.phase(), Phase::Scoring);
    }

    #[test]
    fn the_countdown_warns_a_minute_before_and_never_cuts_off() {
        let mut f = fixture();
        f.d.advance(f.host, f.t0).unwrap();
        assert_eq!(f.d.remaining(f.t0 + min(5)), Some(Ok(min(10))));
        assert!(f.d.tick(f.t0 + min(13)).is_empty());
        assert_eq!(
            f.d.tick(f.t0 + min(14)),
            vec![Effect::OneMinuteLeft(Phase::Presentation)]
        );
        assert!(
            f.d.tick(f.t0 + min(14) + Duration::from_secs(30))
                .is_empty(),
            "warned once"
        );
        assert_eq!(
            f.d.tick(f.t0 + min(16)),
            vec![Effect::Overtime(Phase::Presentation)]
        );
        assert_eq!(f.d.remaining(f.t0 + min(17)), Some(Err(min(2))));
        assert!(
            f.d.tick(f.t0 + min(30)).is_empty(),
            "overtime reported once"
        );
        assert_eq!(
            f.d.phase(),
            Phase::Presentation,
            "time running out ends nothing"
        );
    }

    #[test]
    fn extending_adds_time_and_rearms_the_warning() {
        let mut f = fixture();
        f.d.advance(f.host, f.t0).unwrap();
        f.d.tick(f.t0 + min(14));
        assert_eq!(f.d.extend(f.expert, 5), Err(RuleError::NotHost));
        assert_eq!(f.d.extend(f.host, 0), Err(RuleError::BadExtension));
        assert_eq!(
            f.d.extend(f.host, 5).unwrap(),
            vec![Effect::Extended {
                phase: Phase::Presentation,
                by: min(5)
            }]
        );
        assert_eq!(f.d.remaining(f.t0 + min(14)), Some(Ok(min(6))));
        assert_eq!(
            f.d.tick(f.t0 + min(19)),
            vec![Effect::OneMinuteLeft(Phase::Presentation)]
        );
        // A new phase starts with a fresh budget and no extension.
        f.d.advance(f.host, f.t0 + min(20)).unwrap();
        assert_eq!(f.d.remaining(f.t0 + min(20)), Some(Ok(min(10))));
    }

    #[test]
    fn deliberation_sends_the_applicant_to_the_lobby_and_keeps_them_there() {
        let mut f = fixture();
        assert_eq!(
            f.d.admit(f.host).unwrap(),
            vec![Effect::ToRoom(f.applicant)]
        );
        assert!(
            f.d.admit(f.host).unwrap().is_empty(),
            "admitting twice changes nothing"
        );
        f.d.advance(f.host, f.t0).unwrap();
        f.d.advance(f.host, f.t0).unwrap();
        let effects = f.d.advance(f.host, f.t0 + min(25)).unwrap();
        assert!(
            effects.contains(&Effect::ToLobby(f.applicant)),
            "{effects:?}"
        );
        assert!(!f.d.applicant_in_room());
        assert_eq!(
            f.d.admit(f.host),
            Err(RuleError::AdmissionClosed(Phase::Deliberation))
        );
        f.d.advance(f.host, f.t0 + min(30)).unwrap();
        assert_eq!(
            f.d.admit(f.host),
            Err(RuleError::AdmissionClosed(Phase::Scoring))
        );
        // Going back to Q&A lets the host bring the applicant in again.
        f.d.back(f.host, f.t0 + min(31)).unwrap();
        f.d.back(f.host, f.t0 + min(31)).unwrap();
        assert_eq!(
            f.d.admit(f.host).unwrap(),
            vec![Effect::ToRoom(f.applicant)]
        );
    }

    #[test]
    fn the_host_can_return_the_applicant_at_any_time_but_nobody_else_can() {
        let mut f = fixture();
        f.d.admit(f.host).unwrap();
        assert_eq!(f.d.return_to_lobby(f.applicant), Err(RuleError::NotHost));
        assert_eq!(f.d.admit(f.expert), Err(RuleError::NotHost));
        assert_eq!(
            f.d.return_to_lobby(f.host).unwrap(),
            vec![Effect::ToLobby(f.applicant)]
        );
        assert!(f.d.return_to_lobby(f.host).unwrap().is_empty());
    }

    #[test]
    fn scores_are_submitted_once_locked_and_reopened_only_with_a_reason() {
        let mut f = fixture();
        assert_eq!(
            f.d.submit(f.expert, vec![8, 4], String::new()),
            Err(RuleError::NotScoring)
        );
        for _ in 0..4 {
            f.d.advance(f.host, f.t0).unwrap();
        }
        assert_eq!(
            f.d.submit(f.applicant, vec![10, 5], String::new()),
            Err(RuleError::NotExpert)
        );
        assert!(matches!(
            f.d.submit(f.expert, vec![8], String::new()),
            Err(RuleError::InvalidSheet(_))
        ));
        assert!(matches!(
            f.d.submit(f.expert, vec![11, 4], String::new()),
            Err(RuleError::InvalidSheet(_))
        ));
        assert_eq!(
            f.d.submit(f.expert, vec![8, 4], "思路清晰".into()).unwrap(),
            vec![Effect::ScoreSubmitted(f.expert)]
        );
        assert_eq!(
            f.d.submit(f.expert, vec![9, 4], String::new()),
            Err(RuleError::Locked)
        );
        assert_eq!(
            f.d.reopen(f.host, f.expert, "  "),
            Err(RuleError::ReasonRequired)
        );
        assert_eq!(f.d.reopen(f.expert, f.expert, "x"), Err(RuleError::NotHost));
        assert_eq!(
            f.d.reopen(f.host, f.expert, "专家要求修改").unwrap(),
            vec![Effect::ScoreReopened {
                expert: f.expert,
                reason: "专家要求修改".into()
            }]
        );
        f.d.submit(f.expert, vec![9, 4], String::new()).unwrap();
        assert_eq!(
            f.d.reopen(f.host, f.applicant, "x"),
            Err(RuleError::NothingToReopen)
        );
    }

    #[test]
    fn the_aggregate_weights_and_normalises_each_sheet() {
        let mut f = fixture();
        for _ in 0..4 {
            f.d.advance(f.host, f.t0).unwrap();
        }
        assert_eq!(f.d.aggregate().1, None);
        f.d.submit(f.expert, vec![10, 5], String::new()).unwrap();
        let (totals, mean) = f.d.aggregate();
        assert!((totals[&f.expert] - 100.0).abs() < 1e-9);
        assert!((mean.unwrap() - 100.0).abs() < 1e-9);
        f.d.reopen(f.host, f.expert, "复核").unwrap();
        assert_eq!(f.d.aggregate().1, None, "reopened sheets do not count");
        f.d.submit(f.expert, vec![5, 0], String::new()).unwrap();
        assert!(
            (f.d.aggregate().1.unwrap() - 30.0).abs() < 1e-9,
            "0.6 × 5/10 = 30%"
        );
    }
}
