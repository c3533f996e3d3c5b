//! Panel days: the defenses a panel holds back to back on one defense day share one
//! room (one media room, one roster, one lobby). Each defense keeps its own session
//! record, agenda, scores and ratings. The applicants queue in booked order; when the
//! host closes one defense, the next becomes current and its applicant is admitted.
//!
//! [`DayQueue`] is the pure rule; [`Days`] holds the live queues and maps each session
//! to its room (a session outside any panel day is its own room).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use uuid::Uuid;

/// The defenses of one panel day, in booked order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayQueue {
    sessions: Vec<Uuid>,
    applicants: HashMap<Uuid, Uuid>,
    closed: BTreeSet<Uuid>,
}

impl DayQueue {
    /// A queue of `(session, its applicant's participant id)` in booked order.
    pub fn new(sessions: Vec<(Uuid, Option<Uuid>)>) -> Self {
        Self {
            applicants: sessions
                .iter()
                .filter_map(|(s, a)| a.map(|a| (*s, a)))
                .collect(),
            sessions: sessions.into_iter().map(|(s, _)| s).collect(),
            closed: BTreeSet::new(),
        }
    }

    /// The defense being held: the first one in booked order not closed yet.
    pub fn current(&self) -> Option<Uuid> {
        self.sessions
            .iter()
            .find(|s| !self.closed.contains(s))
            .copied()
    }

    /// How many open defenses come before this one (0: it is current). `None` when
    /// it is closed or not part of the day.
    pub fn position(&self, session: Uuid) -> Option<usize> {
        if self.closed.contains(&session) {
            return None;
        }
        let index = self.sessions.iter().position(|s| *s == session)?;
        Some(
            self.sessions[..index]
                .iter()
                .filter(|s| !self.closed.contains(s))
                .count(),
        )
    }

    /// Closes a defense; returns the next current one if this changed it.
    pub fn close(&mut self, session: Uuid) -> Option<Uuid> {
        let before = self.current();
        if !self.sessions.contains(&session) || !self.closed.insert(session) {
            return None;
        }
        let after = self.current();
        (after != before).then_some(after).flatten()
    }

    /// The applicant (participant id) of a defense of the day.
    pub fn applicant(&self, session: Uuid) -> Option<Uuid> {
        self.applicants.get(&session).copied()
    }

    /// The day's defenses in booked order.
    pub fn sessions(&self) -> &[Uuid] {
        &self.sessions
    }

    /// The defenses closed so far (what must outlive the server).
    pub fn closed(&self) -> Vec<Uuid> {
        self.closed.iter().copied().collect()
    }

    /// Resumes a queue saved with these defenses closed (unknown ones are ignored).
    pub fn resume_closed(&mut self, closed: &[Uuid]) {
        for session in closed {
            if self.sessions.contains(session) {
                self.closed.insert(*session);
            }
        }
    }

    /// Every open defense with its applicant, in order.
    pub fn waiting(&self) -> Vec<(Uuid, Uuid)> {
        self.sessions
            .iter()
            .filter(|s| !self.closed.contains(s))
            .filter_map(|s| self.applicant(*s).map(|a| (*s, a)))
            .collect()
    }
}

/// Live panel days and the room of every session that joined.
#[derive(Debug, Default)]
pub struct Days {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    room_of: HashMap<Uuid, Uuid>,
    queues: HashMap<Uuid, DayQueue>,
    /// A panel member's participant id in any defense of the day → their id in the
    /// room (their participant id in the first defense of the day they sit in).
    canonical: HashMap<Uuid, Uuid>,
    /// (defense, id in the room) → their participant id in that defense.
    in_session: HashMap<(Uuid, Uuid), Uuid>,
    /// When each day's last defense is booked to end.
    ends: HashMap<Uuid, chrono::DateTime<chrono::Utc>>,
}

/// Who someone is across the defenses of a day: the registered person when known,
/// otherwise their role and name as booked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PersonKey {
    /// A registered person.
    Person(Uuid),
    /// Role and display name.
    Named(scheduler::Role, String),
}

impl PersonKey {
    /// The key of a booked participant.
    pub fn of(p: &scheduler::Participant) -> Self {
        match p.person_id {
            Some(id) => PersonKey::Person(id),
            None => PersonKey::Named(p.role, p.name.clone()),
        }
    }
}

impl Days {
    /// Registers a panel day: its defenses in booked order with their participants
    /// (idempotent: the first registration wins, so closed defenses stay closed). The
    /// room id is the first defense's session id. Panel members (everyone but the
    /// applicants) get one identity in the room, whichever defense's link they use.
    pub fn register(&self, day: &[(Uuid, Vec<scheduler::Participant>)]) -> Option<Uuid> {
        let room = day.first()?.0;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.queues.contains_key(&room) {
            return Some(room);
        }
        let mut first_seen: HashMap<PersonKey, Uuid> = HashMap::new();
        let mut queue = Vec::new();
        for (session, participants) in day {
            inner.room_of.insert(*session, room);
            let mut applicant = None;
            for p in participants {
                if p.role == scheduler::Role::Applicant {
                    applicant = Some(p.id);
                    continue;
                }
                let canonical = *first_seen.entry(PersonKey::of(p)).or_insert(p.id);
                inner.canonical.insert(p.id, canonical);
                inner.in_session.insert((*session, canonical), p.id);
            }
            queue.push((*session, applicant));
        }
        inner.queues.insert(room, DayQueue::new(queue));
        Some(room)
    }

    /// Someone's identity in their room (themselves unless a panel member of a day).
    pub fn canonical(&self, participant: Uuid) -> Uuid {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .canonical
            .get(&participant)
            .copied()
            .unwrap_or(participant)
    }

    /// The participant id in `session` of someone known in the room as `who`; `None`
    /// when a panel member does not sit in that defense (a conflict of interest).
    pub fn in_session(&self, session: Uuid, who: Uuid) -> Option<Uuid> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.room_of.contains_key(&session) || !inner.canonical.values().any(|c| *c == who) {
            return Some(who);
        }
        inner.in_session.get(&(session, who)).copied()
    }

    /// Takes a panel member's seat in one defense of a day away (they were taken off
    /// that booking); returns their identity in the room. `None` when the session is
    /// not part of a registered day or they had no seat in it.
    pub fn unseat(&self, session: Uuid, participant: Uuid) -> Option<Uuid> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let canonical = inner.canonical.get(&participant).copied()?;
        inner
            .in_session
            .remove(&(session, canonical))
            .map(|_| canonical)
    }

    /// Whether someone known in a day's room as `who` has a seat in a defense of the
    /// day that is still open, other than `except`.
    pub fn has_open_seat(&self, room: Uuid, who: Uuid, except: Uuid) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = inner.queues.get(&room) else {
            return false;
        };
        queue
            .sessions
            .iter()
            .filter(|s| **s != except && !queue.closed.contains(s))
            .any(|s| inner.in_session.contains_key(&(*s, who)))
    }

    /// Records when a day's last defense is booked to end.
    pub fn set_end(&self, room: Uuid, end: chrono::DateTime<chrono::Utc>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.ends.insert(room, end);
    }

    /// When a day's last defense is booked to end (`None` outside panel days).
    pub fn end_of(&self, room: Uuid) -> Option<chrono::DateTime<chrono::Utc>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.ends.get(&room).copied()
    }

    /// Whether a session is part of a registered panel day.
    pub fn is_day(&self, session: Uuid) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .room_of
            .get(&session)
            .is_some_and(|room| inner.queues.contains_key(room))
    }

    /// The room a session is held in (itself unless part of a panel day).
    pub fn room_of(&self, session: Uuid) -> Uuid {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.room_of.get(&session).copied().unwrap_or(session)
    }

    /// Runs `f` on a room's queue, if the room is a panel day.
    pub fn with<R>(&self, room: Uuid, f: impl FnOnce(&mut DayQueue) -> R) -> Option<R> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.queues.get_mut(&room).map(f)
    }

    /// The session currently held in a room (the room's own session when it is not a
    /// panel day).
    pub fn current(&self, room: Uuid) -> Uuid {
        self.with(room, |q| q.current()).flatten().unwrap_or(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_queue_holds_the_right_defense_and_applicant_next() {
        let (s1, s2, s3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (a1, a2, a3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut before = DayQueue::new(vec![(s1, Some(a1)), (s2, Some(a2)), (s3, Some(a3))]);
        before.close(s1);
        let saved = before.closed();
        let mut after = DayQueue::new(vec![(s1, Some(a1)), (s2, Some(a2)), (s3, Some(a3))]);
        after.resume_closed(&saved);
        after.resume_closed(&[Uuid::new_v4()]);
        assert_eq!(after, before);
        assert_eq!(after.current(), Some(s2));
        assert_eq!(after.waiting(), vec![(s2, a2), (s3, a3)]);
        assert_eq!(after.sessions(), &[s1, s2, s3]);
    }

    #[test]
    fn defenses_are_held_in_booked_order_and_closing_one_moves_the_queue() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (pa, pb) = (Uuid::new_v4(), Uuid::new_v4());
        let mut q = DayQueue::new(vec![(a, Some(pa)), (b, Some(pb)), (c, None)]);
        assert_eq!(q.current(), Some(a));
        assert_eq!(
            (q.position(a), q.position(b), q.position(c)),
            (Some(0), Some(1), Some(2))
        );
        assert_eq!(q.waiting(), vec![(a, pa), (b, pb)]);
        assert_eq!(
            q.close(b),
            None,
            "closing a later defense does not move the current"
        );
        assert_eq!(q.position(c), Some(1));
        assert_eq!(q.close(a), Some(c));
        assert_eq!(q.close(a), None, "closing twice changes nothing");
        assert_eq!(q.position(a), None);
        assert_eq!(q.close(c), None, "the day is over");
        assert_eq!(q.current(), None);
        assert_eq!(q.close(Uuid::new_v4()), None);
    }

    fn booked(session: Uuid, name: &str, role: scheduler::Role) -> scheduler::Participant {
        scheduler::Participant {
            id: Uuid::new_v4(),
            session_id: session,
            name: name.into(),
            role,
            person_id: None,
            link_generation: 0,
            removed: false,
        }
    }

    #[test]
    fn panel_members_have_one_identity_across_the_day() {
        use scheduler::Role;
        let days = Days::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let a_people = vec![
            booked(a, "秘书", Role::Host),
            booked(a, "王", Role::Expert),
            booked(a, "甲", Role::Applicant),
        ];
        let b_people = vec![
            booked(b, "秘书", Role::Host),
            booked(b, "王", Role::Expert),
            booked(b, "乙", Role::Applicant),
        ];
        days.register(&[(a, a_people.clone()), (b, b_people.clone())]);
        let wang = a_people[1].id;
        assert_eq!(days.canonical(b_people[1].id), wang);
        assert_eq!(days.in_session(b, wang), Some(b_people[1].id));
        assert_eq!(days.in_session(a, wang), Some(wang));
        assert_eq!(
            days.canonical(b_people[2].id),
            b_people[2].id,
            "applicants are themselves"
        );
        assert_eq!(
            days.with(a, |q| q.waiting()),
            Some(vec![(a, a_people[2].id), (b, b_people[2].id)])
        );
        let stranger = Uuid::new_v4();
        assert_eq!(days.in_session(Uuid::new_v4(), stranger), Some(stranger));
    }

    #[test]
    fn a_member_absent_from_one_defense_has_no_seat_in_it() {
        use scheduler::Role;
        let days = Days::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let a_people = vec![booked(a, "李", Role::Expert), booked(a, "王", Role::Expert)];
        let b_people = vec![booked(b, "王", Role::Expert)];
        days.register(&[(a, a_people.clone()), (b, b_people)]);
        assert_eq!(
            days.in_session(b, a_people[0].id),
            None,
            "李 does not judge b"
        );
    }

    #[test]
    fn a_member_taken_off_one_defense_keeps_the_seats_of_the_others() {
        use scheduler::Role;
        let days = Days::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let a_people = vec![booked(a, "李", Role::Expert), booked(a, "王", Role::Expert)];
        let b_people = vec![booked(b, "李", Role::Expert), booked(b, "王", Role::Expert)];
        days.register(&[(a, a_people.clone()), (b, b_people.clone())]);
        let li = a_people[0].id;
        assert!(days.is_day(b));
        assert_eq!(days.unseat(b, b_people[0].id), Some(li));
        assert_eq!(days.in_session(b, li), None, "no seat in b any more");
        assert_eq!(days.in_session(a, li), Some(li));
        assert!(days.has_open_seat(a, li, b), "still sits in a");
        assert!(!days.has_open_seat(a, li, a), "nothing but a");
        assert_eq!(days.unseat(b, b_people[0].id), None, "only once");
        assert!(!days.is_day(Uuid::new_v4()));
    }

    #[test]
    fn sessions_map_to_their_days_room() {
        let days = Days::default();
        let (a, b, alone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(days.register(&[(a, vec![]), (b, vec![])]), Some(a));
        assert_eq!(days.room_of(b), a);
        assert_eq!(days.room_of(alone), alone);
        assert_eq!(days.current(a), a);
        days.with(a, |q| q.close(a));
        assert_eq!(days.current(a), b);
        assert_eq!(days.register(&[(a, vec![]), (b, vec![])]), Some(a));
        assert_eq!(
            days.current(a),
            b,
            "registering again keeps what was closed"
        );
        assert_eq!(days.current(alone), alone);
    }
}
