//! Who is connected to which session. Each connection registers here and receives
//! the arrivals and departures of the others. A participant who connects again (a
//! second tab, or a reconnect) replaces their older connection, which is told so.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::protocol::PeerInfo;

/// What a connection hears about the others.
#[derive(Debug, Clone, PartialEq)]
pub enum PresenceEvent {
    /// Someone arrived.
    Joined(PeerInfo),
    /// Someone left.
    Left(Uuid),
    /// This connection was replaced by a newer one of the same participant.
    Replaced,
    /// This participant was moved into (`true`) or out of the lobby.
    Lobby(bool),
    /// A message for this connection (phase changes, alerts, controls…).
    Notice(super::protocol::ServerMessage),
    /// The host removed this participant.
    Removed,
}

#[derive(Debug)]
struct Member {
    info: PeerInfo,
    connection: u64,
    media: Option<media::ids::ParticipantId>,
    events: mpsc::UnboundedSender<PresenceEvent>,
}

/// The registry of present participants, per session.
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
    /// Everyone else present when it joined.
    pub others: Vec<PeerInfo>,
    /// Arrivals, departures, replacement.
    pub events: mpsc::UnboundedReceiver<PresenceEvent>,
}

impl Presence {
    /// Registers a connection of `me` in `session`.
    pub fn join(&self, session: Uuid, me: PeerInfo) -> Registration {
        let (tx, events) = mpsc::unbounded_channel();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.next_connection += 1;
        let connection = inner.next_connection;
        let members = inner.sessions.entry(session).or_default();
        if let Some(old) = members.remove(&me.id) {
            let _ = old.events.send(PresenceEvent::Replaced);
        } else {
            for member in members.values() {
                let _ = member.events.send(PresenceEvent::Joined(me.clone()));
            }
        }
        let mut others: Vec<PeerInfo> = members.values().map(|m| m.info.clone()).collect();
        others.sort_by_key(|p| p.id);
        members.insert(
            me.id,
            Member {
                info: me,
                connection,
                media: None,
                events: tx,
            },
        );
        Registration {
            connection,
            others,
            events,
        }
    }

    /// Removes a connection (no-op if a newer connection replaced it).
    pub fn leave(&self, session: Uuid, participant: Uuid, connection: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(members) = inner.sessions.get_mut(&session) else {
            return;
        };
        if members.get(&participant).map(|m| m.connection) != Some(connection) {
            return;
        }
        members.remove(&participant);
        for member in members.values() {
            let _ = member.events.send(PresenceEvent::Left(participant));
        }
        if members.is_empty() {
            inner.sessions.remove(&session);
        }
    }

    /// Records the media-plane id of a registered connection.
    pub fn set_media(
        &self,
        session: Uuid,
        participant: Uuid,
        connection: u64,
        id: media::ids::ParticipantId,
    ) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
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
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let member = inner.sessions.get(&session)?.get(&participant)?;
        let _ = member.events.send(event);
        member.media
    }

    /// Sends `event` to everyone connected to the session.
    pub fn broadcast(&self, session: Uuid, event: PresenceEvent) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = inner.sessions.get(&session) {
            for member in members.values() {
                let _ = member.events.send(event.clone());
            }
        }
    }

    /// Sends `event` to everyone connected to the session whose role is in `roles`.
    pub fn broadcast_to(&self, session: Uuid, roles: &[scheduler::Role], event: PresenceEvent) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = inner.sessions.get(&session) {
            for member in members.values().filter(|m| roles.contains(&m.info.role)) {
                let _ = member.events.send(event.clone());
            }
        }
    }

    /// The media-plane id of a connected participant.
    pub fn media_of(&self, session: Uuid, participant: Uuid) -> Option<media::ids::ParticipantId> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sessions.get(&session)?.get(&participant)?.media
    }

    /// Number of connected participants across all sessions.
    pub fn connected(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.sessions.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scheduler::Role;

    fn info(name: &str) -> PeerInfo {
        PeerInfo {
            id: Uuid::new_v4(),
            name: name.into(),
            role: Role::Expert,
        }
    }

    #[test]
    fn arrivals_and_departures_reach_the_others() {
        let presence = Presence::default();
        let session = Uuid::new_v4();
        let (a, b) = (info("a"), info("b"));
        let mut reg_a = presence.join(session, a.clone());
        assert!(reg_a.others.is_empty());
        let reg_b = presence.join(session, b.clone());
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
        let mut reg_a = presence.join(session, a.clone());
        let mut reg_b1 = presence.join(session, b.clone());
        let _ = reg_a.events.try_recv();
        let reg_b2 = presence.join(session, b.clone());
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
        let mut reg = presence.join(Uuid::new_v4(), info("a"));
        let _other = presence.join(Uuid::new_v4(), info("b"));
        assert!(reg.events.try_recv().is_err());
        assert!(reg.others.is_empty());
    }
}
