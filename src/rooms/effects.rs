//! Carrying out what the runtime's rules decided ([`crate::runtime`]'s effects): the
//! SFU's source policy and presence, moving people between lobby and room, phase
//! broadcasts and their record, the recording's switch, a panel day's next defense;
//! and the room's state as messages for the people in it.

use chrono::Utc;
use scheduler::Role;
use scheduler::record::ChatMessage;
use serde_json::json;
use uuid::Uuid;

use crate::audit::Actor;
use crate::runtime::defense::{Defense, Effect, Phase};
use crate::runtime::room::{RoomEffect, RoomRules};
use crate::signaling::presence::PresenceEvent;
use crate::signaling::protocol::{ChatLine, ServerMessage, SheetSummary};
use crate::state::AppState;

/// The current controls of a participant, as everyone sees them.
pub fn participant_state(rules: &RoomRules, who: Uuid) -> ServerMessage {
    let c = rules.controls(who);
    ServerMessage::ParticipantState {
        participant_id: who,
        muted: c.muted,
        screen_allowed: c.screen_allowed,
        promoted: c.promoted,
        hand_raised: c.hand_raised,
    }
}

/// What a participant may send, as a message for them.
pub fn sources_message(rules: &RoomRules, who: Uuid) -> ServerMessage {
    let s = rules.sources(who);
    ServerMessage::Sources {
        microphone: s.microphone,
        camera: s.camera,
        screen: s.screen,
    }
}

/// Carries out room effects: the SFU's source policy, messages, removal.
pub fn apply_room_effects(state: &AppState, session: Uuid, effects: Vec<RoomEffect>) {
    for effect in effects {
        match effect {
            RoomEffect::Sources(who) | RoomEffect::Hand(who, _) => {
                let Some((policy, sources, public)) = state.rooms.with(session, |r| {
                    (
                        r.sources(who),
                        sources_message(r, who),
                        participant_state(r, who),
                    )
                }) else {
                    continue;
                };
                if matches!(effect, RoomEffect::Sources(_))
                    && let Some(media) =
                        state
                            .presence
                            .tell(session, who, PresenceEvent::Notice(sources))
                {
                    state.sfu.set_sources(media, policy);
                }
                state
                    .presence
                    .broadcast(session, PresenceEvent::Notice(public));
            }
            RoomEffect::AskUnmute(who) => {
                state.presence.tell(
                    session,
                    who,
                    PresenceEvent::Notice(ServerMessage::UnmuteRequested),
                );
            }
            RoomEffect::Remove(who) => {
                state.presence.tell(session, who, PresenceEvent::Removed);
            }
            RoomEffect::Recording(on) => {
                state.presence.broadcast(
                    session,
                    PresenceEvent::Notice(ServerMessage::Recording { on }),
                );
                crate::recording::switch(state, session, on);
            }
        }
    }
}

/// Moves someone between lobby and room in presence and in the SFU.
pub fn move_person(state: &AppState, session: Uuid, who: Uuid, to_lobby: bool) {
    if !state.lobby.set(session, who, to_lobby) {
        return;
    }
    let waiting = to_lobby || !super::seats::is_seated(state, session, who);
    if let Some(media) = state.presence.set_waiting(session, who, waiting) {
        state.sfu.set_present(media, !waiting);
    }
    state
        .presence
        .tell(session, who, PresenceEvent::Lobby(to_lobby));
}

/// Carries out what the defense's rules decided: phase broadcasts (and their record),
/// moving the applicant between lobby and room in the SFU, countdown alerts, rating
/// requests when the defense closes. Score effects are persisted by their commands.
pub fn apply_effects(state: &AppState, session: Uuid, actor: Actor, effects: Vec<Effect>) {
    let room = state.days.room_of(session);
    for effect in effects {
        match effect {
            Effect::PhaseChanged { phase, .. } => {
                let store = state.store.clone();
                let name = phase_name(phase);
                let at = Utc::now();
                state.audit.record(
                    Some(session),
                    actor.clone(),
                    "phase",
                    json!({ "phase": name }),
                );
                tokio::spawn(async move {
                    if let Err(e) = store.record_phase(session, &name, at).await {
                        tracing::error!(error = %e, "phase change not recorded");
                    }
                });
                if let Some(message) = phase_message(state, session) {
                    state
                        .presence
                        .broadcast(room, PresenceEvent::Notice(message));
                }
                if phase == Phase::Closed {
                    crate::recording::on_close(state, session, room);
                    ask_for_ratings(state, session);
                    let state = state.clone();
                    tokio::spawn(async move { next_defense_of_the_day(&state, session).await });
                }
            }
            Effect::Extended { by, .. } => {
                state.audit.record(
                    Some(session),
                    actor.clone(),
                    "extend",
                    json!({ "seconds": by.as_secs() }),
                );
                if let Some(message) = phase_message(state, session) {
                    state
                        .presence
                        .broadcast(room, PresenceEvent::Notice(message));
                }
            }
            Effect::ToLobby(who) | Effect::ToRoom(who) => {
                let to_lobby = matches!(effect, Effect::ToLobby(_));
                state.audit.record(
                    Some(session),
                    actor.clone(),
                    if to_lobby { "toLobby" } else { "admit" },
                    json!({ "target": who }),
                );
                move_person(state, room, who, to_lobby);
                if !to_lobby {
                    crate::recording::on_defense_admission(state, session, room);
                }
            }
            Effect::OneMinuteLeft(phase) | Effect::Overtime(phase) => {
                let alert = if matches!(effect, Effect::Overtime(_)) {
                    "overtime"
                } else {
                    "oneMinuteLeft"
                };
                state.presence.broadcast(
                    room,
                    PresenceEvent::Notice(ServerMessage::PhaseAlert {
                        phase,
                        alert: alert.into(),
                    }),
                );
            }
            Effect::ScoreSubmitted(_) | Effect::ScoreReopened { .. } => {}
        }
    }
}

fn phase_name(phase: Phase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The current phase as a message, with its end in server (UTC) time.
pub fn phase_message(state: &AppState, session: Uuid) -> Option<ServerMessage> {
    let now = std::time::Instant::now();
    let (phase, remaining) = state.defenses.snapshot(session, now)?;
    let ends_at = remaining.map(|r| match r {
        Ok(left) => Utc::now() + chrono::Duration::from_std(left).unwrap_or_default(),
        Err(over) => Utc::now() - chrono::Duration::from_std(over).unwrap_or_default(),
    });
    Some(ServerMessage::Phase { phase, ends_at })
}

/// Asks the closed session's experts, applicant and trainees for a rating. In a panel
/// day the applicants still queued are not asked (their defense is to come).
pub fn ask_for_ratings(state: &AppState, session: Uuid) {
    let room = state.days.room_of(session);
    let request = PresenceEvent::Notice(ServerMessage::RateRequest {
        session_id: session,
    });
    state
        .presence
        .broadcast_to(room, &[Role::Expert, Role::Trainee], request.clone());
    if let Some(applicant) = state.defenses.with(session, |d| d.applicant()).flatten() {
        state.presence.tell(room, applicant, request);
    }
}

/// After a defense of a panel day closes: the next one becomes current, its
/// applicant is admitted, the panel gets the new phase and score sheets, and the
/// applicants still waiting learn their place in the queue.
pub async fn next_defense_of_the_day(state: &AppState, closed: Uuid) {
    let room = state.days.room_of(closed);
    let Some(next) = state.days.with(room, |q| q.close(closed)).flatten() else {
        return;
    };
    let session = match state.store.session(next).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the next defense could not be loaded");
            return;
        }
    };
    let participants = state.store.participants(next).await.unwrap_or_default();
    super::place::ensure_defense(state, &session, &participants).await;
    // Panel members without a seat in the new defense leave its media and roster;
    // those with one come back.
    super::seats::reseat(state, room);
    state.audit.record(
        Some(next),
        Actor::System,
        "defenseStarted",
        json!({ "after": closed }),
    );
    if let Some(message) = phase_message(state, next) {
        state
            .presence
            .broadcast(room, PresenceEvent::Notice(message));
    }
    if let Some(effects) = state.defenses.with(next, Defense::admit_from_queue) {
        apply_effects(state, next, Actor::System, effects);
    }
    tell_queue_positions(state, room);
    let sheets = state
        .defenses
        .with(next, |d| {
            d.experts()
                .into_iter()
                .map(|e| (e, sheet_message(d, e)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for (expert, sheet) in sheets {
        state
            .presence
            .tell(room, expert, PresenceEvent::Notice(sheet));
    }
    if let Some(scores) = scores_message(state, next).await {
        state
            .presence
            .broadcast_to(room, &[Role::Host], PresenceEvent::Notice(scores));
    }
}

/// Tells every applicant waiting in a panel day how many defenses come before theirs.
pub fn tell_queue_positions(state: &AppState, room: Uuid) {
    let waiting = state
        .days
        .with(room, |q| {
            q.waiting()
                .into_iter()
                .filter_map(|(s, a)| q.position(s).map(|p| (a, p)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for (applicant, ahead) in waiting {
        state.presence.tell(
            room,
            applicant,
            PresenceEvent::Notice(ServerMessage::Queue { ahead }),
        );
    }
}

/// An expert's sheet as a message for them.
pub fn sheet_message(defense: &Defense, expert: Uuid) -> ServerMessage {
    let sheet = defense.sheet(expert);
    ServerMessage::ScoreSheet {
        criteria: defense.criteria().to_vec(),
        scores: sheet.map(|s| s.scores.clone()),
        comment: sheet.map(|s| s.comment.clone()).unwrap_or_default(),
        locked: sheet.is_some_and(|s| s.submitted),
    }
}

/// Every sheet and the aggregate, for hosts.
pub async fn scores_message(state: &AppState, session: Uuid) -> Option<ServerMessage> {
    let names: std::collections::HashMap<Uuid, String> = state
        .store
        .participants(session)
        .await
        .ok()?
        .into_iter()
        .map(|p| (state.days.canonical(p.id), p.name))
        .collect();
    state.defenses.with(session, |d| {
        let (totals, mean) = d.aggregate();
        ServerMessage::Scores {
            sheets: d
                .experts()
                .into_iter()
                .map(|e| SheetSummary {
                    expert_id: e,
                    name: names.get(&e).cloned().unwrap_or_default(),
                    submitted: d.sheet(e).is_some_and(|s| s.submitted),
                    total: totals.get(&e).copied(),
                })
                .collect(),
            mean,
        }
    })
}

/// A stored chat message as participants see it.
pub fn chat_line(m: &ChatMessage) -> ChatLine {
    ChatLine {
        id: m.id,
        author_id: m.author_id,
        author_name: m.author_name.clone(),
        text: m.text.clone(),
        at: m.at,
    }
}
