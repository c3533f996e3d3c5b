//! Who waits in a defense's lobby. An applicant of a defense starts there; the host
//! admits them or sends them back. The state belongs to the participant, not to a
//! connection, so a reconnect keeps it. The media plane enforces it
//! (`Sfu::set_present`); pages only display it.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

/// Lobby state per (session, participant).
#[derive(Debug, Default)]
pub struct Lobby {
    waiting: Mutex<HashMap<(Uuid, Uuid), bool>>,
}

impl Lobby {
    /// Whether the participant waits in the lobby, deciding it on first sight: an
    /// applicant of a defense waits until admitted; everybody else is in the room.
    pub fn on_join(&self, session: Uuid, participant: Uuid, starts_in_lobby: bool) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        *waiting
            .entry((session, participant))
            .or_insert(starts_in_lobby)
    }

    /// Whether the participant waits in the lobby now (false for anyone never seen).
    pub fn is_waiting(&self, session: Uuid, participant: Uuid) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting
            .get(&(session, participant))
            .copied()
            .unwrap_or(false)
    }

    /// Everyone seen in these sessions and whether they wait (what must outlive the
    /// server), sorted.
    pub fn entries_of(&self, sessions: &[Uuid]) -> Vec<(Uuid, Uuid, bool)> {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries: Vec<(Uuid, Uuid, bool)> = waiting
            .iter()
            .filter(|((session, _), _)| sessions.contains(session))
            .map(|((session, participant), waits)| (*session, *participant, *waits))
            .collect();
        entries.sort();
        entries
    }

    /// Moves a participant into (`true`) or out of the lobby. Returns whether this
    /// changed anything.
    pub fn set(&self, session: Uuid, participant: Uuid, in_lobby: bool) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.insert((session, participant), in_lobby) != Some(in_lobby)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_applicant_starts_in_the_lobby_and_admission_survives_a_reconnect() {
        let lobby = Lobby::default();
        let (s, a, e) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert!(lobby.on_join(s, a, true));
        assert!(!lobby.on_join(s, e, false));
        assert!(lobby.set(s, a, false));
        assert!(!lobby.set(s, a, false), "no change the second time");
        assert!(
            !lobby.on_join(s, a, true),
            "a reconnect keeps the admission"
        );
        assert_eq!(lobby.entries_of(&[s]).len(), 2);
        assert!(lobby.entries_of(&[Uuid::new_v4()]).is_empty());
    }

    #[test]
    fn saved_entries_put_back_keep_an_admitted_applicant_admitted() {
        let before = Lobby::default();
        let (s, a) = (Uuid::new_v4(), Uuid::new_v4());
        before.on_join(s, a, true);
        before.set(s, a, false);
        let after = Lobby::default();
        for (session, participant, waits) in before.entries_of(&[s]) {
            after.set(session, participant, waits);
        }
        assert!(
            !after.on_join(s, a, true),
            "admitted before the restart, admitted after"
        );
    }
}
