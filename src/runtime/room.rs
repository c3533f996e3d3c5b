//! The rules of a live room that hold for defenses and training alike, as a pure state
//! machine: who may send which source (microphone, camera, screen), host controls
//! (mute, ask to unmute, allow screen sharing, remove, recording on/off), raised hands,
//! promotion of trainees, who may chat and who is asked for a rating. Nothing here does
//! I/O; the signaling layer carries out the [`RoomEffect`]s (the SFU enforces the
//! source policy, so a page cannot get around it).
//!
//! Rules:
//! - Hosts control everyone. In a training session the trainer may also promote and
//!   demote trainees, mute them, and start or stop the recording.
//! - A muted participant is silent in the SFU until they unmute themselves: a host can
//!   mute, but only ask to unmute (nobody's microphone is opened for them).
//! - Hosts and trainers may share their screen; anyone else who publishes only when a
//!   host allows it (an applicant presenting slides).
//! - Trainees send nothing until promoted; demotion silences them again.
//! - Observers send nothing, ever.
//! - Removed participants cannot come back into this session while the server runs.
//! - Chat is part of training sessions; defenses have none (confidentiality).

use std::collections::{BTreeMap, BTreeSet};

use media::sfu::SourcePolicy;
use scheduler::{Role, SessionKind};
use uuid::Uuid;

/// A participant's controllable state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Controls {
    /// Muted by a host (or trainer) and not yet unmuted by themselves.
    pub muted: bool,
    /// A host allowed screen sharing.
    pub screen_allowed: bool,
    /// A trainee allowed to speak.
    pub promoted: bool,
    /// Hand raised.
    pub hand_raised: bool,
}

/// Why a room command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The sender's role does not allow it (the attempt is logged and audited).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The target is not a participant of this session.
    #[error("no such participant in this session")]
    UnknownParticipant,
    /// The command does not apply to the target.
    #[error("{0}")]
    NotApplicable(&'static str),
}

/// What the signaling layer must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEffect {
    /// Apply this participant's new source policy in the SFU and tell them.
    Sources(Uuid),
    /// Ask this participant to unmute.
    AskUnmute(Uuid),
    /// Disconnect this participant and keep them out.
    Remove(Uuid),
    /// Tell everyone whether the session is being recorded.
    Recording(bool),
    /// Tell everyone a hand went up or down.
    Hand(Uuid, bool),
}

/// A room's rules as saved for a restart ([`RoomRules::live`], [`RoomRules::resume`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomLive {
    /// Everyone whose controls differ from the defaults.
    pub controls: Vec<(Uuid, Controls)>,
    /// Removed participants.
    pub removed: Vec<Uuid>,
    /// The recording switch.
    pub recording: bool,
    /// The session was ended.
    pub closed: bool,
}

/// One live session's room rules.
#[derive(Debug)]
pub struct RoomRules {
    kind: SessionKind,
    roles: BTreeMap<Uuid, Role>,
    controls: BTreeMap<Uuid, Controls>,
    removed: BTreeSet<Uuid>,
    recording: bool,
    closed: bool,
}

impl RoomRules {
    /// Rules for a session with these participants.
    pub fn new(kind: SessionKind, roles: BTreeMap<Uuid, Role>) -> Self {
        Self {
            kind,
            roles,
            controls: BTreeMap::new(),
            removed: BTreeSet::new(),
            recording: false,
            closed: false,
        }
    }

    /// What must outlive the server: controls, removals, the recording switch and
    /// whether the session was ended.
    pub fn live(&self) -> RoomLive {
        RoomLive {
            controls: self
                .controls
                .iter()
                .filter(|(_, c)| **c != Controls::default())
                .map(|(id, c)| (*id, *c))
                .collect(),
            removed: self.removed.iter().copied().collect(),
            recording: self.recording,
            closed: self.closed,
        }
    }

    /// Resumes rules saved as `live` (participants no longer booked are left out).
    pub fn resume(&mut self, live: &RoomLive) {
        self.controls = live
            .controls
            .iter()
            .filter(|(id, _)| self.roles.contains_key(id))
            .copied()
            .collect();
        self.removed = live.removed.iter().copied().collect();
        self.recording = live.recording;
        self.closed = live.closed;
    }

    /// A participant's role, if they belong to the session.
    pub fn role(&self, who: Uuid) -> Option<Role> {
        self.roles.get(&who).copied()
    }

    /// A participant's controls.
    pub fn controls(&self, who: Uuid) -> Controls {
        self.controls.get(&who).copied().unwrap_or_default()
    }

    /// Whether the session is being recorded.
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Whether the session was ended (training; defenses close through their agenda).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Ends the session; returns whether this was the first time.
    pub fn close(&mut self) -> bool {
        !std::mem::replace(&mut self.closed, true)
    }

    /// Whether the participant was removed.
    pub fn is_removed(&self, who: Uuid) -> bool {
        self.removed.contains(&who)
    }

    /// Whether this participant gets publishing slots at all (trainees do, for the
    /// day they are promoted).
    pub fn has_slots(&self, who: Uuid) -> bool {
        matches!(self.role(who), Some(r) if r.may_publish() || r == Role::Trainee)
    }

    /// Which of the participant's sources reach the room now.
    pub fn sources(&self, who: Uuid) -> SourcePolicy {
        let c = self.controls(who);
        let (mic_and_camera, screen) = match self.role(who) {
            Some(Role::Host | Role::Trainer) => (true, true),
            Some(Role::Expert | Role::Applicant) => (true, c.screen_allowed),
            Some(Role::Trainee) => (c.promoted, c.promoted && c.screen_allowed),
            Some(Role::Observer) | None => (false, false),
        };
        SourcePolicy {
            microphone: mic_and_camera && !c.muted,
            camera: mic_and_camera,
            screen,
        }
    }

    fn is_host(&self, who: Uuid) -> bool {
        self.role(who) == Some(Role::Host)
    }

    /// Hosts, and in training sessions the trainer.
    fn leads(&self, who: Uuid) -> bool {
        self.is_host(who)
            || (self.kind == SessionKind::Training && self.role(who) == Some(Role::Trainer))
    }

    fn target(&self, target: Uuid) -> Result<Role, RoomError> {
        self.role(target).ok_or(RoomError::UnknownParticipant)
    }

    fn controls_mut(&mut self, who: Uuid) -> &mut Controls {
        self.controls.entry(who).or_default()
    }

    /// Mutes someone's microphone in the SFU. Hosts mute anyone; a trainer mutes
    /// trainees.
    pub fn mute(&mut self, by: Uuid, target: Uuid) -> Result<Vec<RoomEffect>, RoomError> {
        let role = self.target(target)?;
        if !(self.is_host(by) || (self.leads(by) && role == Role::Trainee)) {
            return Err(RoomError::Forbidden("only the host may mute others"));
        }
        self.controls_mut(target).muted = true;
        Ok(vec![RoomEffect::Sources(target)])
    }

    /// A participant unmutes themselves (the only way out of a mute).
    pub fn unmute_self(&mut self, who: Uuid) -> Vec<RoomEffect> {
        if !self.controls(who).muted {
            return Vec::new();
        }
        self.controls_mut(who).muted = false;
        vec![RoomEffect::Sources(who)]
    }

    /// Asks someone to unmute; opening their microphone stays their decision.
    pub fn ask_unmute(&mut self, by: Uuid, target: Uuid) -> Result<Vec<RoomEffect>, RoomError> {
        self.target(target)?;
        if !self.leads(by) {
            return Err(RoomError::Forbidden(
                "only the host may ask others to unmute",
            ));
        }
        Ok(vec![RoomEffect::AskUnmute(target)])
    }

    /// Allows or stops someone's screen sharing.
    pub fn allow_screen(
        &mut self,
        by: Uuid,
        target: Uuid,
        allowed: bool,
    ) -> Result<Vec<RoomEffect>, RoomError> {
        let role = self.target(target)?;
        if !self.leads(by) {
            return Err(RoomError::Forbidden(
                "only the host may allow screen sharing",
            ));
        }
        if !self.has_slots(target) || matches!(role, Role::Host | Role::Trainer) {
            return Err(RoomError::NotApplicable(
                "this participant's screen sharing is not controlled",
            ));
        }
        self.controls_mut(target).screen_allowed = allowed;
        Ok(vec![RoomEffect::Sources(target)])
    }

    /// Promotes a trainee to speak (or demotes them).
    pub fn promote(
        &mut self,
        by: Uuid,
        target: Uuid,
        promoted: bool,
    ) -> Result<Vec<RoomEffect>, RoomError> {
        let role = self.target(target)?;
        if !self.leads(by) {
            return Err(RoomError::Forbidden(
                "only the trainer or host may let trainees speak",
            ));
        }
        if role != Role::Trainee {
            return Err(RoomError::NotApplicable("only trainees are promoted"));
        }
        let c = self.controls_mut(target);
        c.promoted = promoted;
        if promoted {
            c.hand_raised = false;
            c.muted = false;
        }
        Ok(vec![
            RoomEffect::Sources(target),
            RoomEffect::Hand(target, false),
        ])
    }

    /// Raises or lowers one's own hand.
    pub fn raise_hand(&mut self, who: Uuid, raised: bool) -> Result<Vec<RoomEffect>, RoomError> {
        match self.role(who) {
            None => Err(RoomError::UnknownParticipant),
            Some(Role::Observer) => Err(RoomError::Forbidden("observers stay hidden")),
            Some(_) => {
                self.controls_mut(who).hand_raised = raised;
                Ok(vec![RoomEffect::Hand(who, raised)])
            }
        }
    }

    /// Removes someone from the session.
    pub fn remove(&mut self, by: Uuid, target: Uuid) -> Result<Vec<RoomEffect>, RoomError> {
        let role = self.target(target)?;
        if !self.is_host(by) {
            return Err(RoomError::Forbidden(
                "only the host may remove participants",
            ));
        }
        if role == Role::Host {
            return Err(RoomError::NotApplicable("a host cannot be removed"));
        }
        self.removed.insert(target);
        Ok(vec![RoomEffect::Remove(target)])
    }

    /// Starts or stops recording.
    pub fn set_recording(&mut self, by: Uuid, on: bool) -> Result<Vec<RoomEffect>, RoomError> {
        if !self.leads(by) {
            return Err(RoomError::Forbidden(
                "only the host (or the trainer) may start or stop recording",
            ));
        }
        if self.recording == on {
            return Ok(Vec::new());
        }
        self.recording = on;
        Ok(vec![RoomEffect::Recording(on)])
    }

    /// Sets the recording switch on the system's behalf (a defense records from
    /// admission to close; a refused start turns it back off). Returns whether it
    /// changed.
    pub fn force_recording(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.recording, on) != on
    }

    /// Those who lead the room (hosts; the trainer in training): they are told when
    /// something they asked for could not be done.
    pub fn leaders(&self) -> Vec<Uuid> {
        self.roles
            .keys()
            .copied()
            .filter(|who| self.leads(*who))
            .collect()
    }

    /// Whether `who` may post to the chat.
    pub fn may_chat(&self, who: Uuid) -> Result<(), RoomError> {
        if self.kind != SessionKind::Training {
            return Err(RoomError::Forbidden("defenses have no chat"));
        }
        match self.role(who) {
            None => Err(RoomError::UnknownParticipant),
            Some(Role::Observer) => Err(RoomError::Forbidden("observers stay hidden")),
            Some(_) => Ok(()),
        }
    }

    /// Whether `who` may remove chat messages.
    pub fn may_moderate_chat(&self, who: Uuid) -> Result<(), RoomError> {
        if self.leads(who) {
            Ok(())
        } else {
            Err(RoomError::Forbidden(
                "only the host may remove chat messages",
            ))
        }
    }

    /// Whether `who` may end a training session (defenses end through their agenda).
    pub fn may_close(&self, who: Uuid) -> Result<(), RoomError> {
        if self.kind == SessionKind::Training && self.leads(who) {
            Ok(())
        } else {
            Err(RoomError::Forbidden(
                "only the host or trainer ends a training session; defenses end by their agenda",
            ))
        }
    }
}

/// Whether this role is asked for a satisfaction rating when the session closes.
pub fn is_asked_for_rating(role: Role) -> bool {
    matches!(role, Role::Expert | Role::Applicant | Role::Trainee)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumed_rules_keep_mutes_permissions_promotions_hands_and_removals() {
        let mut w = training();
        w.rules.promote(w.trainer, w.trainee, true).unwrap();
        w.rules.allow_screen(w.host, w.trainee, true).unwrap();
        w.rules.mute(w.host, w.trainee).unwrap();
        w.rules.remove(w.host, w.observer).unwrap();
        w.rules.force_recording(true);
        let saved = w.rules.live();
        let text = serde_json::to_string(&saved).unwrap();
        let back: RoomLive = serde_json::from_str(&text).unwrap();
        assert_eq!(back, saved, "the saved form reads back");

        let mut fresh = training();
        let roles = w.rules.roles.clone();
        fresh.rules = RoomRules::new(SessionKind::Training, roles);
        fresh.rules.resume(&back);
        assert_eq!(fresh.rules.sources(w.trainee), w.rules.sources(w.trainee));
        assert!(!fresh.rules.sources(w.trainee).microphone, "still muted");
        assert!(
            fresh.rules.sources(w.trainee).screen,
            "still allowed to share"
        );
        assert!(fresh.rules.is_removed(w.observer));
        assert!(fresh.rules.recording());
        assert_eq!(fresh.rules.live(), saved);
    }

    #[test]
    fn resumed_rules_leave_out_people_no_longer_booked() {
        let mut w = training();
        w.rules.promote(w.trainer, w.trainee, true).unwrap();
        let saved = w.rules.live();
        let mut roles = w.rules.roles.clone();
        roles.remove(&w.trainee);
        let mut fresh = RoomRules::new(SessionKind::Training, roles);
        fresh.resume(&saved);
        assert!(fresh.live().controls.is_empty());
    }

    struct World {
        rules: RoomRules,
        host: Uuid,
        trainer: Uuid,
        trainee: Uuid,
        observer: Uuid,
    }

    fn training() -> World {
        let (host, trainer, trainee, observer) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let roles = [
            (host, Role::Host),
            (trainer, Role::Trainer),
            (trainee, Role::Trainee),
            (observer, Role::Observer),
        ]
        .into_iter()
        .collect();
        World {
            rules: RoomRules::new(SessionKind::Training, roles),
            host,
            trainer,
            trainee,
            observer,
        }
    }

    fn defense() -> (RoomRules, Uuid, Uuid, Uuid) {
        let (host, expert, applicant) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let roles = [
            (host, Role::Host),
            (expert, Role::Expert),
            (applicant, Role::Applicant),
        ]
        .into_iter()
        .collect();
        (
            RoomRules::new(SessionKind::Defense, roles),
            host,
            expert,
            applicant,
        )
    }

    #[test]
    fn a_trainee_sends_nothing_until_promoted_and_nothing_after_demotion() {
        let mut w = training();
        assert!(w.rules.has_slots(w.trainee));
        assert_eq!(w.rules.sources(w.trainee), SourcePolicy::default());
        w.rules.raise_hand(w.trainee, true).unwrap();
        assert!(w.rules.controls(w.trainee).hand_raised);
        assert_eq!(
            w.rules.promote(w.trainee, w.trainee, true),
            Err(RoomError::Forbidden(
                "only the trainer or host may let trainees speak"
            ))
        );
        w.rules.promote(w.trainer, w.trainee, true).unwrap();
        let s = w.rules.sources(w.trainee);
        assert!(s.microphone && s.camera && !s.screen);
        assert!(
            !w.rules.controls(w.trainee).hand_raised,
            "promotion lowers the hand"
        );
        w.rules.promote(w.host, w.trainee, false).unwrap();
        assert_eq!(w.rules.sources(w.trainee), SourcePolicy::default());
        assert!(w.rules.promote(w.trainer, w.host, true).is_err());
    }

    #[test]
    fn observers_send_nothing_and_stay_hidden() {
        let mut w = training();
        assert!(!w.rules.has_slots(w.observer));
        assert_eq!(w.rules.sources(w.observer), SourcePolicy::default());
        assert!(w.rules.raise_hand(w.observer, true).is_err());
        assert!(w.rules.may_chat(w.observer).is_err());
        assert!(w.rules.may_chat(w.trainee).is_ok());
    }

    #[test]
    fn a_mute_holds_until_the_participant_unmutes_themselves() {
        let (mut rules, host, expert, applicant) = defense();
        assert_eq!(
            rules.mute(expert, applicant),
            Err(RoomError::Forbidden("only the host may mute others"))
        );
        assert_eq!(
            rules.mute(host, applicant),
            Ok(vec![RoomEffect::Sources(applicant)])
        );
        assert!(!rules.sources(applicant).microphone);
        assert!(rules.sources(applicant).camera, "mute is audio only");
        assert_eq!(
            rules.ask_unmute(host, applicant),
            Ok(vec![RoomEffect::AskUnmute(applicant)])
        );
        assert!(!rules.sources(applicant).microphone, "asking opens nothing");
        assert!(rules.ask_unmute(expert, applicant).is_err());
        assert_eq!(
            rules.unmute_self(applicant),
            vec![RoomEffect::Sources(applicant)]
        );
        assert!(rules.sources(applicant).microphone);
        assert!(rules.unmute_self(applicant).is_empty());
    }

    #[test]
    fn screen_sharing_needs_the_hosts_permission_except_for_hosts_and_trainers() {
        let (mut rules, host, expert, applicant) = defense();
        assert!(rules.sources(host).screen);
        assert!(!rules.sources(applicant).screen);
        assert!(rules.allow_screen(expert, applicant, true).is_err());
        rules.allow_screen(host, applicant, true).unwrap();
        assert!(rules.sources(applicant).screen);
        rules.allow_screen(host, applicant, false).unwrap();
        assert!(!rules.sources(applicant).screen);
        assert!(rules.allow_screen(host, host, false).is_err());
        assert_eq!(
            rules.allow_screen(host, Uuid::new_v4(), true),
            Err(RoomError::UnknownParticipant)
        );
    }

    #[test]
    fn removal_recording_and_chat_are_for_those_who_lead() {
        let (mut rules, host, expert, applicant) = defense();
        assert!(rules.remove(expert, applicant).is_err());
        assert!(rules.remove(host, host).is_err());
        assert_eq!(
            rules.remove(host, applicant),
            Ok(vec![RoomEffect::Remove(applicant)])
        );
        assert!(rules.is_removed(applicant));
        assert!(rules.set_recording(expert, true).is_err());
        assert_eq!(
            rules.set_recording(host, true),
            Ok(vec![RoomEffect::Recording(true)])
        );
        assert!(rules.set_recording(host, true).unwrap().is_empty());
        assert!(rules.recording());
        assert!(rules.may_chat(expert).is_err(), "defenses have no chat");
        assert!(
            rules.may_close(host).is_err(),
            "a defense ends by its agenda"
        );

        let mut w = training();
        assert!(w.rules.set_recording(w.trainer, true).is_ok());
        assert!(w.rules.may_moderate_chat(w.trainer).is_ok());
        assert!(w.rules.may_moderate_chat(w.trainee).is_err());
        assert!(w.rules.may_close(w.trainer).is_ok());
        assert!(w.rules.may_close(w.trainee).is_err());
        assert!(
            w.rules.mute(w.trainer, w.trainee).is_ok(),
            "a trainer mutes trainees"
        );
        assert!(w.rules.mute(w.trainer, w.host).is_err(), "but not the host");
    }

    #[test]
    fn ratings_are_asked_of_experts_applicants_and_trainees() {
        let asked: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| is_asked_for_rating(*r))
            .collect();
        assert_eq!(asked, vec![Role::Applicant, Role::Expert, Role::Trainee]);
    }
}
