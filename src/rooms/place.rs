//! Loading and placing rooms: which room a session is held in (a panel day's
//! defenses share one), the room's rules built from its bookings on first use, a
//! defense's state machine with its agenda, and who a panel member is across the
//! day's links.

use std::time::Duration;

use chrono::Utc;
use scheduler::{Participant, Role, Session, SessionKind};
use uuid::Uuid;

use crate::auth::JoinGrant;
use crate::runtime::defense::PhaseBudget;
use crate::runtime::room::RoomRules;
use crate::state::AppState;

/// Places a participant: finds the session's room (see [`load`]) and returns the
/// room, the participant as known in the room, and their own session.
pub async fn place(
    state: &AppState,
    session: &Session,
    participant: Participant,
) -> Option<(Uuid, Participant, Session)> {
    let room = load(state, session).await?;
    let participant = as_known_in_room(state, participant).await?;
    Some((room, participant, session.clone()))
}

/// Loads the room a session is held in: registers its panel day on first sight,
/// builds the room's rules and the session's defense. Used by joins and by the
/// rebuild after a restart alike.
pub async fn load(state: &AppState, session: &Session) -> Option<Uuid> {
    // Someone joined before: the day is registered and the rules are built, so the
    // day's bookings need not be read again (5–20 people join each defense).
    let known = state.days.room_of(session.id);
    if state.rooms.contains(known)
        && (session.kind != SessionKind::Defense || state.defenses.contains(session.id))
    {
        return Some(known);
    }
    let day = match day_of(state, session).await {
        Ok(day) => day,
        Err(e) => {
            tracing::error!(error = %e, "the panel day could not be loaded");
            return None;
        }
    };
    let room = match &day {
        Some(day) => {
            let ids: Vec<(Uuid, Vec<Participant>)> =
                day.iter().map(|(s, p)| (s.id, p.clone())).collect();
            let room = state.days.register(&ids)?;
            if let Some(end) = day.iter().map(|(s, _)| s.ends_at()).max() {
                state.days.set_end(room, end);
            }
            room
        }
        None => session.id,
    };
    let everyone: Vec<Participant> = match day {
        Some(day) => day.into_iter().flat_map(|(_, p)| p).collect(),
        None => state.store.participants(session.id).await.ok()?,
    };
    let roles = everyone
        .iter()
        .map(|p| (state.days.canonical(p.id), p.role))
        .collect();
    state
        .rooms
        .ensure(room, || RoomRules::new(session.kind, roles));
    if session.kind == SessionKind::Defense {
        let own: Vec<Participant> = everyone
            .iter()
            .filter(|p| p.session_id == session.id)
            .cloned()
            .collect();
        ensure_defense(state, session, &own).await;
    }
    Some(room)
}

/// A panel member as the room knows them (one identity across a day's links).
pub async fn as_known_in_room(state: &AppState, participant: Participant) -> Option<Participant> {
    let canonical = state.days.canonical(participant.id);
    if canonical == participant.id {
        Some(participant)
    } else {
        state.store.participant(canonical).await.ok()
    }
}

/// The defenses of the session's panel day in booked order, with their participants;
/// `None` when the session is not part of one.
pub async fn day_of(
    state: &AppState,
    session: &Session,
) -> Result<Option<Vec<(Session, Vec<Participant>)>>, scheduler::StoreError> {
    let (Some(day), Some(panel)) = (session.defense_day_id, session.panel_id) else {
        return Ok(None);
    };
    let window = chrono::Duration::hours(24);
    let mut sessions: Vec<Session> = state
        .store
        .sessions_between(session.starts_at - window, session.starts_at + window)
        .await?
        .into_iter()
        .filter(|s| s.defense_day_id == Some(day) && s.panel_id == Some(panel) && !s.cancelled)
        .collect();
    sessions.sort_by_key(|s| (s.starts_at, s.id));
    let mut out = Vec::new();
    for s in sessions {
        let participants = state.store.participants(s.id).await?;
        out.push((s, participants));
    }
    Ok(Some(out))
}

/// The session a participant's commands concern: an applicant's own defense; for
/// everyone else the defense being held in the room now (built on first use).
pub async fn concerned_session(
    state: &AppState,
    room: Uuid,
    own: &Session,
    participant: &Participant,
) -> Session {
    let current = state.days.current(room);
    if participant.role == Role::Applicant || current == own.id {
        return own.clone();
    }
    match state.store.session(current).await {
        Ok(session) => {
            let participants = state.store.participants(current).await.unwrap_or_default();
            ensure_defense(state, &session, &participants).await;
            session
        }
        Err(e) => {
            tracing::error!(error = %e, "the current defense could not be loaded");
            own.clone()
        }
    }
}

/// Creates the session's defense state machine on first join: seats from the booking,
/// phase budgets from its agenda (defaults when booked without one).
/// Criteria come from the programme; sheets already stored (before a restart) are put
/// back, so a submitted sheet stays locked.
pub async fn ensure_defense(state: &AppState, session: &Session, participants: &[Participant]) {
    use crate::runtime::defense::{Defense, ScoreSheet, Seat};
    if state.defenses.contains(session.id) {
        return;
    }
    let criteria = match state.store.session_criteria(session.id).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "criteria could not be loaded; using the defaults");
            scheduler::record::Criterion::defaults()
        }
    };
    let stored = state
        .store
        .score_sheets(session.id)
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "stored score sheets could not be loaded");
            Vec::new()
        });
    let seats = participants
        .iter()
        .map(|p| {
            let seat = match p.role {
                Role::Host => Seat::Host,
                Role::Expert => Seat::Expert,
                Role::Applicant => Seat::Applicant,
                _ => Seat::Other,
            };
            (state.days.canonical(p.id), seat)
        })
        .collect();
    let budget = phase_budget(session.agenda);
    state.defenses.ensure(session.id, || {
        let mut defense = Defense::new(budget, criteria, seats);
        for sheet in stored {
            defense.restore_sheet(
                state.days.canonical(sheet.expert_id),
                ScoreSheet {
                    scores: sheet.scores,
                    comment: sheet.comment,
                    submitted: sheet.locked,
                },
            );
        }
        defense
    });
}

/// The phases' time budgets: the booking's agenda, or the default agenda (15 minutes
/// of presentation, 15 of questions, 10 of deliberation) for a defense booked without
/// one. Scoring always has 10 minutes.
pub fn phase_budget(agenda: Option<scheduler::domain::Agenda>) -> PhaseBudget {
    let minutes = |m: i64| Duration::from_secs(u64::try_from(m).unwrap_or(0) * 60);
    match agenda {
        Some(a) => PhaseBudget {
            presentation: minutes(a.presentation_minutes),
            qa: minutes(a.qa_minutes),
            deliberation: minutes(a.deliberation_minutes),
            scoring: minutes(10),
        },
        None => PhaseBudget {
            presentation: minutes(15),
            qa: minutes(15),
            deliberation: minutes(10),
            scoring: minutes(10),
        },
    }
}

/// How long from now a connection may stay open: until its link's end (a panel
/// member's until the day's last defense ends) plus the configured overrun grace.
pub fn connection_lifetime(
    state: &AppState,
    room: Uuid,
    grant: &JoinGrant,
    participant: &Participant,
) -> Duration {
    let link_end = chrono::DateTime::from_timestamp(grant.exp, 0).unwrap_or_else(Utc::now);
    let end = match state.days.end_of(room) {
        Some(day_end) if participant.role != Role::Applicant => link_end.max(day_end),
        _ => link_end,
    } + chrono::Duration::minutes(state.settings.overrun_grace_minutes);
    (end - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}
