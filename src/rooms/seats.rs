//! Seats: who takes part in what a room holds now, and ending seats when the right to
//! them ends. A participant *waits* outside a room's media and roster when they are an
//! applicant in the lobby or a panel member without a seat in the defense being held
//! (a conflict of interest, or not booked into it); the SFU enforces it
//! (`Sfu::set_present`) and presence hides them.
//!
//! Credentials are re-checked where they matter: cancelling a session, taking someone
//! off a booking or revoking their link closes their open connections at once, with a
//! message that says why (the connection's own expiry is in `signaling::ws`).

use scheduler::{Participant, Role, Session};
use uuid::Uuid;

use crate::signaling::presence::PresenceEvent;
use crate::signaling::protocol::{ServerMessage, WaitReason};
use crate::state::AppState;

/// Whether a participant has a seat in what the room holds now: in a panel day, the
/// defense being held (a panel member with a conflict of interest, or not booked into
/// it, has none); elsewhere everyone booked does.
pub fn is_seated(state: &AppState, room: Uuid, who: Uuid) -> bool {
    let current = state.days.current(room);
    state.days.in_session(current, who).is_some()
}

/// Whether a participant waits outside the room's media and roster: an applicant in
/// the lobby, or someone without a seat in the defense being held.
pub fn is_waiting(state: &AppState, room: Uuid, who: Uuid) -> bool {
    state.lobby.is_waiting(room, who) || !is_seated(state, room, who)
}

/// After the room's current defense changed: everyone connected who has no seat in
/// it leaves its media and roster (and is told why); everyone who has one and is not
/// in the lobby comes back.
pub fn reseat(state: &AppState, room: Uuid) {
    for (who, role) in state.presence.members(room) {
        if role == Role::Applicant {
            continue; // the lobby and the queue decide for applicants
        }
        let waiting = is_waiting(state, room, who);
        let Some(media) = state.presence.set_waiting(room, who, waiting) else {
            continue;
        };
        state.sfu.set_present(media, !waiting);
        let seated = is_seated(state, room, who);
        state.presence.tell(
            room,
            who,
            PresenceEvent::Notice(ServerMessage::Lobby {
                in_lobby: waiting,
                reason: (!seated).then_some(WaitReason::NotSeated),
            }),
        );
    }
}

/// Closes the open connections of these participants (ids as booked) with a fatal
/// error carrying `code`.
fn close(state: &AppState, room: Uuid, who: &[Uuid], code: &'static str, message: &str) {
    for id in who {
        state.presence.tell(
            room,
            *id,
            PresenceEvent::Revoked {
                code,
                message: message.to_owned(),
            },
        );
    }
}

/// A session was cancelled: everyone whose only business in the room was this
/// session is disconnected (its applicant; in a panel day, the panel members who sit
/// in no other open defense of the day), live ingest feeds end, and a panel day's
/// queue moves past it.
pub async fn on_cancelled(state: &AppState, session: &Session, participants: &[Participant]) {
    let room = state.days.room_of(session.id);
    const MESSAGE: &str = "this session was cancelled";
    if state.days.is_day(session.id) {
        let leaving: Vec<Uuid> = participants
            .iter()
            .map(|p| state.days.canonical(p.id))
            .filter(|who| !state.days.has_open_seat(room, *who, session.id))
            .collect();
        close(state, room, &leaving, "cancelled", MESSAGE);
        // If it was the defense being held, the next one starts.
        super::effects::next_defense_of_the_day(state, session.id).await;
        reseat(state, room);
    } else {
        let everyone: Vec<Uuid> = state
            .presence
            .members(room)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        close(state, room, &everyone, "cancelled", MESSAGE);
    }
    state.ingests.end_all_of(session.id);
}

/// A participant was taken off a booking: in a panel day they lose that defense's
/// seat (and leave its media if it is being held) and are disconnected only when no
/// other open defense of the day is theirs; elsewhere they are disconnected.
pub fn on_removed(state: &AppState, participant: &Participant) {
    let session = participant.session_id;
    let room = state.days.room_of(session);
    const MESSAGE: &str = "you were taken off this session's booking";
    if state.days.is_day(session) {
        let who = state
            .days
            .unseat(session, participant.id)
            .unwrap_or(participant.id);
        if (who == participant.id && participant.role == Role::Applicant)
            || !state.days.has_open_seat(room, who, session)
        {
            close(state, room, &[who], "revoked", MESSAGE);
        } else {
            reseat(state, room);
        }
    } else {
        close(state, room, &[participant.id], "revoked", MESSAGE);
    }
}

/// A participant's links were revoked: their open connection closes; a new link
/// (issued with the new generation) lets them back in.
pub fn on_revoked(state: &AppState, participant: &Participant) {
    let room = state.days.room_of(participant.session_id);
    let who = state.days.canonical(participant.id);
    close(
        state,
        room,
        &[who],
        "revoked",
        "this link was revoked; ask the secretary for your new link",
    );
}
