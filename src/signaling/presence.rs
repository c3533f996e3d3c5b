//! Who is connected to which room, and who may see whom there. Each connection
//! registers here and receives the arrivals and departures of the others it may see.
//! A participant who connects again (a second tab, or a reconnect) replaces their
//! older connection, which is told so.
//!
//! Rosters follow the room's confidentiality: someone *waiting* (an applicant in the
//! lobby, or a panel member without a seat in the defense being held) sees only the
//! hosts, and only hosts see them; everyone else sees everyone not waiting. So an
//! applicant never learns who else defends that day, and an expert with a conflict
//! of interest is out of the roster of the defense they must not attend.

use std::collections::HashMap;
use std::sync::Mutex;

use scheduler::Role;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::protocol::PeerInfo;

/// What a connection hears about the others.
#[derive(Debug, Clone, PartialEq)]
pub enum PresenceEvent {
    /// Someone arrived (or became visible).
    Joined(PeerInfo),
    /// Someone left (or stopped being visible).
    Left(Uuid),
    /// This connection was replaced by a newer one of the same participant.
    Replaced,
    /// This participant was moved into (`true`) or out of the lobby.
    Lobby(bool),
    /// A message for this connection (phase changes, alerts, controls…).
    Notice(super::protocol::ServerMessage),
    /// The host removed this participant.
    Removed,
    /// The server stops on purpose: say so and close (the page comes back).
    Restarting,
    /// This participant's right to be here ended (the session was cancelled, they
    /// were taken off the booking, their link was revoked or expired): close with
    /// this code and message.
    Revoked {
        /// Stable code for the page.
        code: &'static str,
        /// Explanation.
        message: String,
    },
}

#[derive(Debug)]
struct Member {
    info: PeerInfo,
    connection: u64,
    media: Option<media::ids::ParticipantId>,
    waiting: bool,
    events: mpsc::UnboundedSender<PresenceEvent>,
}

impl Member {
    /// Whether `self` may see `other` in the roster.
    fn sees(&self, other: &Member) -> bool {
        sees(&self.info, self.waiting, &other.info, other.waiting)
    }
}

/// The roster rule: hosts see and are seen by everyone; otherwise the waiting see no
/// one and are seen by no one.
fn sees(viewer: &PeerInfo, viewer_waiting: bool, other: &PeerInfo, other_waiting: bool) -> bool {
    viewer.role == Role::Host || other.role == Role::Host || !(viewer_waiting || other_waiting)
}

/// The registry of present participants, per room.
#[derive(Debug, Default)]
pub struct Presence {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_connection: u64,
    sessions: HashMap<Uuid, HashMap<Uuid, Member>>,
}

/// A registered connection: its id, who else is there, and its event stream.
#[derive(Debug)]
pub struct Registration {
    /// Identifies this connection (to leave without removing a newer one).
    pub connection: u64,
    /// Everyone else present when it joined, as far as it may see them.
    pub others: Vec<PeerInfo>,
    /// Arrivals, departures, replacement.
    pub events: mpsc::UnboundedReceiver<PresenceEvent>,
}

impl Presence {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection of `me` in `session`, waiting or not.
    pub fn join(&self, session: Uuid, me: PeerInfo, waiting: bool) -> Registration {
        let (tx, events) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.next_connection += 1;
        let connection = inner.next_connection;
        let members = inner.sessions.entry(session).or_default();
        let newcomer = Member {
            info: me.clone(),
            connection,
            media: None,
            waiting,
            events: tx,
        };
        if let Some(old) = members.remove(&me.id) {
            let _ = old.events.send(PresenceEvent::Replaced);
            // Whoever saw the old connection and may not see the new one (it now
            // waits) is told it left; whoever may see it now and did not, arrived.
            for member in members.values() {
                match (member.sees(&old), member.sees(&newcomer)) {
                    (true, false) => {
                        let _ = member.events.send(PresenceEvent::Left(me.id));
                    }
                    (false, true) => {
                        let _ = member.events.send(PresenceEvent::Joined(me.clone()));
                    }
                    _ => {}
                }
            }
        } else {
            for member in members.values().filter(|m| m.sees(&newcomer)) {
                let _ = member.events.send(PresenceEvent::Joined(me.clone()));
            }
        }
        let mut others: Vec<PeerInfo> = members
            .values()
            .filter(|m| newcomer.sees(m))
            .map(|m| m.info.clone())
            .collect();
        others.sort_by_key(|p| p.id);
        members.insert(me.id, newcomer);
        Registration {
            connection,
            others,
            events,
        }
    }

    /// Removes a connection (no-op if a newer connection replaced it).
    pub fn leave(&self, session: Uuid, participant: Uuid, connection: u64) {
        let mut inner = self.lock();
        let Some(members) = inner.sessions.get_mut(&session) else {
            return;
        };
        if members.get(&participant).map(|m| m.connection) != Some(connection) {
            return;
        }
        if let Some(gone) = members.remove(&participant) {
            for member in members.values().filter(|m| m.sees(&gone)) {
                let _ = member.events.send(PresenceEvent::Left(participant));
            }
        }
        if members.is_empty() {
            inner.sessions.remove(&session);
        }
    }

    /// Moves a connected participant into or out of waiting, and tells those whose
    /// view of the roster changes (and the participant, whose own view changes).
    /// Returns their media-plane id if they are connected.
    pub fn set_waiting(
        &self,
        session: Uuid,
        participant: Uuid,
        waiting: bool,
    ) -> Option<media::ids::ParticipantId> {
        let mut inner = self.lock();
        let members = inner.sessions.get_mut(&session)?;
        let mut member = members.remove(&participant)?;
        if member.waiting != waiting {
            let before: Vec<(Uuid, bool, bool)> = members
                .values()
                .map(|m| (m.info.id, m.sees(&member), member.sees(m)))
                .collect();
            member.waiting = waiting;
            for (id, they_saw, i_saw) in before {
                let Some(other) = members.get(&id) else {
                    continue;
                };
                match (they_saw, other.sees(&member)) {
                    (true, false) => {
                        let _ = other.events.send(PresenceEvent::Left(participant));
                    }
                    (false, true) => {
                        let _ = other
                            .events
                            .send(PresenceEvent::Joined(member.info.clone()));
                    }
                    _ => {}
                }
                match (i_saw, member.sees(other)) {
                    (true, false) => {
                        let _ = member.events.send(PresenceEvent::Left(id));
                    }
                    (false, true) => {
                        let _ = member
                            .events
                            .send(PresenceEvent::Joined(other.info.clone()));
                    }
                    _ => {}
                }
            }
        }
        let media = member.media;
        members.insert(participant, member);
        media
    }

    /// Records the media-plane id of a registered connection.
    pub fn set_media(
        &self,
        session: Uuid,
        participant: Uuid,
        connection: u64,
        id: media::ids::ParticipantId,
    ) {
        let mut inner = self.lock();
        if let Some(member) = inner
            .sessions
            .get_mut(&session)
            .and_then(|m| m.get_mut(&participant))
            .filter(|m| m.connection == connection)
        {
            member.media = Some(id);
        }
    }

    /// Tells a connected participant something; returns their media-plane id if they
    /// are connected.
    pub fn tell(
        &self,
        session: Uuid,
        participant: Uuid,
        event: PresenceEvent,
    ) -> Option<media::ids::ParticipantId> {
        let inner = self.lock();
        let member = inner.sessions.get(&session)?.get(&participant)?;
        let _ = member.events.send(event);
        member.media
    }

    /// Sends `event` to everyone connected to the session.
    pub fn broadcast(&self, session: Uuid, event: PresenceEvent) {
        let inner = self.lock();
        if let Some(members) = inner.sessions.get(&session) {
            for member in members.values() {
                let _ = member.events.send(event.clone());
            }
        }
    }

    /// Sends `event` to everyone connected to the session whose role is in `roles`.
    pub fn broadcast_to(&self, session: Uuid, roles: &[Role], event: PresenceEvent) {
        let inner = self.lock();
        if let Some(members) = inner.sessions.get(&session) {
            for member in members.values().filter(|m| roles.contains(&m.info.role)) {
                let _ = member.events.send(event.clone());
            }
        }
    }

    /// The media-plane id of a connected participant.
    pub fn media_of(&self, session: Uuid, participant: Uuid) -> Option<media::ids::ParticipantId> {
        let inner = self.lock();
        inner.sessions.get(&session)?.get(&participant)?.media
    }

    /// Who is connected to a room, with their roles.
    pub fn members(&self, session: Uuid) -> Vec<(Uuid, Role)> {
        let inner = self.lock();
        inner
            .sessions
            .get(&session)
            .map(|m| m.values().map(|m| (m.info.id, m.info.role)).collect())
            .unwrap_or_default()
    }

    /// Every room with someone connected.
    pub fn rooms(&self) -> Vec<Uuid> {
        self.lock().sessions.keys().copied().collect()
    }

    /// Number of connected participants across all sessions.
    pub fn connected(&self) -> usize {
        let inner = self.lock();
        inner.sessions.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scheduler::Role;

    fn info(name: &str) -> PeerInfo {
        as_role(name, Role::Expert)
    }

    fn as_role(name: &str, role: Role) -> PeerInfo {
        PeerInfo {
            id: Uuid::new_v4(),
            name: name.into(),
            role,
        }
    }

    fn drain(reg: &mut Registration) -> Vec<PresenceEvent> {
        std::iter::from_fn(|| reg.events.try_recv().ok()).collect()
    }

    #[test]
    fn the_waiting_see_only_hosts_and_only_hosts_see_them() {
        let presence = Presence::default();
        let room = Uuid::new_v4();
        let host = as_role("秘书", Role::Host);
        let expert = as_role("专家", Role::Expert);
        let current = as_role("申请人甲", Role::Applicant);
        let next = as_role("申请人乙", Role::Applicant);
        let mut h = presence.join(room, host.clone(), false);
        let mut e = presence.join(room, expert.clone(), false);
        let mut c = presence.join(room, current.clone(), false);
        let n = presence.join(room, next.clone(), true);
        assert_eq!(
            n.others,
            vec![host.clone()],
            "a waiting applicant sees the host only"
        );
        let (_, _, _) = (drain(&mut h), drain(&mut e), drain(&mut c));
        let mut n = n;
        // The current applicant goes back to the lobby: the expert loses sight of
        // them, the host does not, and they now see the host only.
        presence.set_waiting(room, current.id, true);
        assert_eq!(drain(&mut e), vec![PresenceEvent::Left(current.id)]);
        assert!(drain(&mut h).is_empty());
        let seen_by_current = drain(&mut c);
        assert_eq!(seen_by_current, vec![PresenceEvent::Left(expert.id)]);
        assert!(
            drain(&mut n).is_empty(),
            "two waiting applicants never see each other"
        );
        // The next one is admitted: expert and host see them, they see the expert.
        presence.set_waiting(room, next.id, false);
        assert_eq!(drain(&mut e), vec![PresenceEvent::Joined(next.clone())]);
        assert_eq!(drain(&mut n), vec![PresenceEvent::Joined(expert.clone())]);
        assert!(drain(&mut c).is_empty());
        // A waiting participant's departure is news to hosts only.
        presence.leave(room, current.id, c.connection);
        assert_eq!(drain(&mut h), vec![PresenceEvent::Left(current.id)]);
        assert!(drain(&mut e).is_empty());
    }

    #[test]
    fn arrivals_and_departures_reach_the_others() {
        let presence = Presence::default();
        let session = Uuid::new_v4();
        let (a, b) = (info("a"), info("b"));
        let mut reg_a = presence.join(session, a.clone(), false);
        assert!(reg_a.others.is_empty());
        let reg_b = presence.join(session, b.clone(), false);
        assert_eq!(reg_b.others, vec![a.clone()]);
        assert_eq!(
            reg_a.events.try_recv().unwrap(),
            PresenceEvent::Joined(b.clone())
        );
        presence.leave(session, b.id, reg_b.connection);
        assert_eq!(reg_a.events.try_recv().unwrap(), PresenceEvent::Left(b.id));
        assert_eq!(presence.connected(), 1);
    }

    #[test]
    fn a_second_connection_replaces_the_first_without_a_departure() {
        let presence = Presence::default();
        let session = Uuid::new_v4();
        let (a, b) = (info("a"), info("b"));
        let mut reg_a = presence.join(session, a.clone(), false);
        let mut reg_b1 = presence.join(session, b.clone(), false);
        let _ = reg_a.events.try_recv();
        let reg_b2 = presence.join(session, b.clone(), false);
        assert_eq!(reg_b1.events.try_recv().unwrap(), PresenceEvent::Replaced);
        // The old connection's leave must not remove the new one.
        presence.leave(session, b.id, reg_b1.connection);
        assert!(reg_a.events.try_recv().is_err());
        assert_eq!(presence.connected(), 2);
        presence.leave(session, b.id, reg_b2.connection);
        assert_eq!(reg_a.events.try_recv().unwrap(), PresenceEvent::Left(b.id));
    }

    #[test]
    fn sessions_are_separate() {
        let presence = Presence::default();
        let mut reg = presence.join(Uuid::new_v4(), info("a"), false);
        let _other = presence.join(Uuid::new_v4(), info("b"), false);
        assert!(reg.events.try_recv().is_err());
        assert!(reg.others.is_empty());
    }
}
