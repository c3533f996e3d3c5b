//! Entering and leaving a room: placing the participant, refusing the removed,
//! registering them in presence and in the media plane (waiting outside when they
//! are in the lobby or have no seat in what the room holds), and what they are told
//! on arrival (lobby, phase, what they may send, recording, others' controls, the
//! chat so far, their score sheet).

use std::time::Duration;

use chrono::Utc;
use media::{JoinRequest, MediaGrant, PeerHandle};
use scheduler::{Participant, Role, Session, SessionKind};
use serde_json::json;
use uuid::Uuid;

use super::place::{concerned_session, connection_lifetime, place};
use crate::audit::Actor;
use crate::auth::JoinGrant;
use crate::signaling::metering;
use crate::signaling::presence::Registration;
use crate::signaling::protocol::{PROTOCOL_VERSION, PeerInfo, ServerMessage, WaitReason};
use crate::state::AppState;

/// A participant in their room: what their connection pumps between.
#[derive(Debug)]
pub struct Entered {
    /// The room (the session itself, or its panel day's).
    pub room: Uuid,
    /// The participant as known in the room (one identity across a day's links).
    pub participant: Participant,
    /// Their own session.
    pub session: Session,
    /// The session their commands concern now (a panel member's: the defense held).
    pub current: Session,
    /// Their place in presence.
    pub registration: Registration,
    /// Their media connection.
    pub peer: PeerHandle,
    /// `welcome` and the room's state, in order.
    pub greeting: Vec<ServerMessage>,
    /// How long the connection may stay open (link end and overrun grace).
    pub lifetime: Duration,
}

/// Why a participant could not enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The session or its day could not be loaded.
    NotLoaded,
    /// A host removed them from this session.
    Removed,
}

impl Refusal {
    /// The fatal error the participant is told.
    pub fn message(self) -> ServerMessage {
        match self {
            Refusal::NotLoaded => {
                ServerMessage::error("internal", "the session could not be loaded", true)
            }
            Refusal::Removed => {
                ServerMessage::error("removed", "the host removed you from this session", true)
            }
        }
    }
}

/// A removed participant tried to come back: refused, on record twice (their
/// connection events and the audit log).
fn record_removed_rejoin(state: &AppState, session: Uuid, participant: Uuid) {
    tracing::warn!("a removed participant tried to rejoin");
    metering::connection_event(
        state,
        session,
        participant,
        "joinFailed",
        json!({ "reason": "removed" }),
    );
    state.audit.record(
        Some(session),
        Actor::Participant(participant),
        "refused",
        json!({ "attempted": "join", "code": "removed" }),
    );
}

/// The first message of a connection: who they are, the session, who else is there,
/// and relay credentials that live as long as this connection may (its link's end
/// and the overrun grace), no longer.
fn welcome(
    state: &AppState,
    me: PeerInfo,
    session: &Session,
    others: &[PeerInfo],
    lifetime: std::time::Duration,
) -> ServerMessage {
    let id = me.id;
    ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        me,
        session_id: session.id,
        session_title: session.title.clone(),
        session_kind: session.kind,
        participants: others.to_vec(),
        ice_servers: crate::turn::ice_servers(
            &state.settings.turn,
            id,
            Utc::now()
                + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::zero()),
            Utc::now(),
        )
        .into_iter()
        .collect(),
    }
}

/// Places a participant in their room and registers them; returns what their
/// connection needs, or why they may not enter (refusals are recorded here).
pub async fn enter(
    state: &AppState,
    grant: &JoinGrant,
    participant: Participant,
    session: Session,
) -> Result<Entered, Refusal> {
    // Find the room (a panel day shares one), load its live rules (the first joiner
    //    builds them), refuse the removed.
    let Some((room, participant, own_session)) = place(state, &session, participant).await else {
        return Err(Refusal::NotLoaded);
    };
    let session = own_session;
    let (removed, has_slots, sources) = state
        .rooms
        .with(room, |r| {
            (
                r.is_removed(participant.id),
                r.has_slots(participant.id),
                r.sources(participant.id),
            )
        })
        .unwrap_or_default();
    if removed {
        record_removed_rejoin(state, session.id, participant.id);
        return Err(Refusal::Removed);
    }

    // Register: presence first (so the roster is consistent), then media.
    let me = PeerInfo {
        id: participant.id,
        name: participant.name.clone(),
        role: participant.role,
    };
    // An applicant of a defense waits in the lobby until admitted; a panel member
    // without a seat in the defense being held waits outside it. The SFU enforces
    // both; the roster hides them from everyone but the hosts.
    let in_lobby = state.lobby.on_join(
        room,
        participant.id,
        session.kind == SessionKind::Defense && participant.role == Role::Applicant,
    );
    let seated = super::seats::is_seated(state, room, participant.id);
    let waiting = in_lobby || !seated;
    let registration = state.presence.join(room, me.clone(), waiting);
    let peer = state.sfu.join(JoinRequest {
        room: room.to_string(),
        label: participant.id.to_string(),
        grant: MediaGrant {
            // Trainees get publishing slots for the day they are promoted; the room's
            // source policy decides what actually flows.
            publish: grant.may_publish || has_slots,
            subscribe: grant.may_subscribe,
            echo: false,
        },
        sources,
    });
    tracing::info!(media_id = %peer.id(), "joined");
    state.audit.record(
        Some(session.id),
        Actor::Participant(participant.id),
        "join",
        json!({ "role": participant.role }),
    );
    metering::connection_event(state, session.id, participant.id, "joined", json!({}));
    state
        .presence
        .set_media(room, participant.id, registration.connection, peer.id());
    // (The join above was queued first, so the forwarder knows them.)
    if waiting {
        state.sfu.set_present(peer.id(), false);
    }
    let current = concerned_session(state, room, &session, &participant).await;
    let lifetime = connection_lifetime(state, room, grant, &participant);
    let mut greeting = vec![welcome(state, me, &session, &registration.others, lifetime)];
    greeting.extend(
        join_state(
            state,
            room,
            &current,
            &participant,
            (waiting, !seated),
            &registration.others,
        )
        .await,
    );

    Ok(Entered {
        room,
        participant,
        session,
        current,
        registration,
        peer,
        greeting,
        lifetime,
    })
}

/// The participant's connection ended: they leave the roster (unless a newer
/// connection of theirs replaced this one) and the audit log says so.
pub fn leave(state: &AppState, entered: &Entered) {
    state.presence.leave(
        entered.room,
        entered.participant.id,
        entered.registration.connection,
    );
    state.audit.record(
        Some(entered.session.id),
        Actor::Participant(entered.participant.id),
        "leave",
        json!({}),
    );
}

/// What a participant learns right after `welcome`: lobby, phase, what they may send,
/// recording, others' controls, the chat so far, and their score sheet (experts) or
/// the scores (hosts).
pub async fn join_state(
    state: &AppState,
    room: Uuid,
    session: &Session,
    participant: &Participant,
    (waiting, unseated): (bool, bool),
    others: &[PeerInfo],
) -> Vec<ServerMessage> {
    let mut out = Vec::new();
    if waiting {
        out.push(ServerMessage::Lobby {
            in_lobby: true,
            reason: unseated.then_some(WaitReason::NotSeated),
        });
    }
    out.extend(super::effects::phase_message(state, session.id));
    if participant.role == Role::Applicant
        && let Some(ahead) = state.days.with(room, |q| q.position(session.id)).flatten()
    {
        out.push(ServerMessage::Queue { ahead });
    }
    if let Some(room) = state.rooms.with(room, |r| {
        let mut m = vec![
            super::effects::sources_message(r, participant.id),
            ServerMessage::Recording { on: r.recording() },
        ];
        m.extend(
            others
                .iter()
                .filter(|o| r.controls(o.id) != Default::default())
                .map(|o| super::effects::participant_state(r, o.id)),
        );
        m
    }) {
        out.extend(room);
    }
    if session.kind == SessionKind::Training {
        match state.store.chat(session.id).await {
            Ok(chat) => {
                out.extend(
                    chat.iter()
                        .filter(|m| !m.removed)
                        .map(|m| ServerMessage::Chat {
                            message: super::effects::chat_line(m),
                        }),
                )
            }
            Err(e) => tracing::error!(error = %e, "chat history could not be loaded"),
        }
    }
    match participant.role {
        Role::Expert => out.extend(state.defenses.with(session.id, |d| {
            super::effects::sheet_message(d, participant.id)
        })),
        Role::Host => out.extend(super::effects::scores_message(state, session.id).await),
        _ => {}
    }
    out
}
