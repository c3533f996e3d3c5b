//! `GET /rtc?token=…`: the WebSocket adapter. The grant is checked before the upgrade
//! (401 otherwise); then the connection is registered in presence and in the media
//! plane, and messages are shuttled between the browser, the SFU and presence until
//! either side leaves. A malformed message gets an `error` reply and changes nothing;
//! a client that keeps sending them is disconnected.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use media::{JoinRequest, MediaGrant, PeerEvent};
use scheduler::{Participant, Role, Session, StoreError};
use serde::Deserialize;

use super::presence::PresenceEvent;
use super::protocol::{
    ClientMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, PeerInfo, ProtocolError, ServerMessage,
    parse_client_message,
};
use crate::auth::JoinGrant;
use crate::http::error::ApiError;
use crate::state::AppState;

/// How long a client has to send `join` after connecting.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Malformed messages tolerated before the connection is closed.
pub const MAX_PROTOCOL_ERRORS: u32 = 20;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/rtc", get(upgrade))
}

#[derive(Deserialize)]
struct RtcQuery {
    token: Option<String>,
}

async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<RtcQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    match admit(&state, query.token.as_deref()).await {
        Ok((grant, participant, session)) => ws
            .max_message_size(MAX_MESSAGE_BYTES + 1024)
            .on_upgrade(move |socket| run(socket, state, grant, participant, session)),
        Err(e) => e.into_response(),
    }
}

/// Checks the grant and that it names a participant of a session that still exists.
async fn admit(
    state: &AppState,
    token: Option<&str>,
) -> Result<(JoinGrant, Participant, Session), ApiError> {
    let token = token.ok_or_else(ApiError::missing_credentials)?;
    let grant = state.signer.verify_join(token, Utc::now()).map_err(|e| {
        tracing::info!(code = e.code(), "signaling refused");
        ApiError::from_token(&e)
    })?;
    let revoked = || ApiError::Unauthorized {
        code: "revoked",
        message: "this invitation no longer exists".into(),
    };
    let participant = match state.store.participant(grant.pid).await {
        Ok(p) if p.session_id == grant.sid => p,
        Ok(_) | Err(StoreError::NotFound) => return Err(revoked()),
        Err(e) => return Err(e.into()),
    };
    let session = match state.store.session(grant.sid).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(revoked()),
        Err(e) => return Err(e.into()),
    };
    Ok((grant, participant, session))
}

async fn send(
    socket: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    msg: &ServerMessage,
) -> bool {
    socket
        .send(Message::Text(msg.to_text().into()))
        .await
        .is_ok()
}

async fn run(
    socket: WebSocket,
    state: AppState,
    grant: JoinGrant,
    participant: Participant,
    session: Session,
) {
    let span = tracing::info_span!("signaling", session = %session.id, participant = %participant.id, role = %participant.role);
    let _enter = span.enter();
    let (mut sink, mut stream) = socket.split();

    // 1. The first message must be `join` with a protocol version we speak.
    let first = tokio::time::timeout(JOIN_TIMEOUT, stream.next()).await;
    let join = match first {
        Ok(Some(Ok(Message::Text(text)))) => parse_client_message(&text),
        Ok(Some(Ok(Message::Binary(_)))) => Err(ProtocolError::Binary),
        _ => return,
    };
    match join {
        Ok(ClientMessage::Join { protocol }) if protocol == PROTOCOL_VERSION => {}
        Ok(ClientMessage::Join { protocol }) => {
            let _ = send(
                &mut sink,
                &ServerMessage::error(
                    "unsupported_protocol",
                    format!("protocol {protocol} is not supported; this server speaks {PROTOCOL_VERSION}"),
                    true,
                ),
            )
            .await;
            return;
        }
        Ok(_) => {
            let _ = send(
                &mut sink,
                &ServerMessage::error("join_first", "the first message must be join", true),
            )
            .await;
            return;
        }
        Err(e) => {
            let _ = send(
                &mut sink,
                &ServerMessage::error(e.code(), e.to_string(), true),
            )
            .await;
            return;
        }
    }

    // 2. Register: presence first (so the roster is consistent), then media.
    let me = PeerInfo {
        id: participant.id,
        name: participant.name.clone(),
        role: participant.role,
    };
    let mut registration = state.presence.join(session.id, me.clone());
    let mut peer = state.sfu.join(JoinRequest {
        room: session.id.to_string(),
        label: participant.id.to_string(),
        grant: MediaGrant {
            publish: grant.may_publish,
            subscribe: grant.may_subscribe,
        },
    });
    tracing::info!(media_id = %peer.id(), "joined");
    state.presence.set_media(
        session.id,
        participant.id,
        registration.connection,
        peer.id(),
    );
    // An applicant of a defense waits in the lobby until the host admits them; the SFU
    // enforces it. (The join above was queued first, so the forwarder knows them.)
    let in_lobby = state.lobby.on_join(
        session.id,
        participant.id,
        session.kind == scheduler::SessionKind::Defense && participant.role == Role::Applicant,
    );
    if in_lobby {
        state.sfu.set_present(peer.id(), false);
    }
    if session.kind == scheduler::SessionKind::Defense {
        ensure_defense(&state, &session).await;
    }
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        me,
        session_id: session.id,
        session_title: session.title.clone(),
        participants: registration.others.clone(),
    };

    // 3. Shuttle until someone leaves.
    let mut protocol_errors = 0u32;
    let phase = phase_message(&state, session.id);
    if send(&mut sink, &welcome).await
        && (!in_lobby || send(&mut sink, &ServerMessage::Lobby { in_lobby: true }).await)
        && match &phase {
            Some(phase) => send(&mut sink, phase).await,
            None => true,
        }
    {
        loop {
            tokio::select! {
                incoming = stream.next() => {
                    let parsed = match incoming {
                        Some(Ok(Message::Text(text))) => parse_client_message(&text),
                        Some(Ok(Message::Binary(_))) => Err(ProtocolError::Binary),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    };
                    match parsed {
                        Ok(ClientMessage::Answer { sdp }) => peer.answer(sdp),
                        Ok(ClientMessage::Candidate { .. }) => {}
                        Ok(ClientMessage::Leave) => break,
                        Ok(ClientMessage::Admit { participant_id }) => {
                            let reply = admit_or_return(&state, &session, &participant, participant_id, false);
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::ReturnToLobby { participant_id }) => {
                            let reply = admit_or_return(&state, &session, &participant, participant_id, true);
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::Advance) => {
                            let by = participant.id;
                            let reply = run_rule(&state, session.id, |d, now| d.advance(by, now));
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::Back) => {
                            let by = participant.id;
                            let reply = run_rule(&state, session.id, |d, now| d.back(by, now));
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::Extend { minutes }) => {
                            let by = participant.id;
                            let reply = run_rule(&state, session.id, |d, _| d.extend(by, minutes));
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::Join { .. }) => {
                            if !send(&mut sink, &ServerMessage::error("already_joined", "join was already accepted", false)).await {
                                break;
                            }
                        }
                        Err(e) => {
                            protocol_errors += 1;
                            let fatal = protocol_errors >= MAX_PROTOCOL_ERRORS;
                            tracing::info!(code = e.code(), protocol_errors, "bad signaling message");
                            if !send(&mut sink, &ServerMessage::error(e.code(), e.to_string(), fatal)).await || fatal {
                                break;
                            }
                        }
                    }
                }
                event = peer.next_event() => {
                    let msg = match event {
                        Some(PeerEvent::Offer { sdp }) => ServerMessage::Offer { sdp },
                        Some(PeerEvent::Rejected { reason }) => ServerMessage::error("rejected", reason, false),
                        Some(PeerEvent::Closed { reason }) => {
                            let _ = send(&mut sink, &ServerMessage::error("media_closed", reason, true)).await;
                            break;
                        }
                        None => {
                            let _ = send(&mut sink, &ServerMessage::error("media_closed", "the media service stopped", true)).await;
                            break;
                        }
                    };
                    if !send(&mut sink, &msg).await {
                        break;
                    }
                }
                presence = registration.events.recv() => {
                    let msg = match presence {
                        Some(PresenceEvent::Joined(participant)) => ServerMessage::ParticipantJoined { participant },
                        Some(PresenceEvent::Left(id)) => ServerMessage::ParticipantLeft { id },
                        Some(PresenceEvent::Lobby(in_lobby)) => ServerMessage::Lobby { in_lobby },
                        Some(PresenceEvent::Notice(message)) => message,
                        Some(PresenceEvent::Replaced) | None => {
                            let _ = send(&mut sink, &ServerMessage::error("replaced", "you joined again from another window", true)).await;
                            break;
                        }
                    };
                    if !send(&mut sink, &msg).await {
                        break;
                    }
                }
            }
        }
    }
    state
        .presence
        .leave(session.id, participant.id, registration.connection);
    drop(peer);
    let _ = sink.close().await;
    tracing::info!("left");
}

/// A host moves a participant of the session into or out of the lobby. Anyone else is
/// refused (and the attempt logged). Returns the reply for the sender, if any.
fn move_between_lobby_and_room(
    state: &AppState,
    session: &Session,
    by: &Participant,
    target: uuid::Uuid,
    to_lobby: bool,
) -> Option<ServerMessage> {
    if by.role != Role::Host {
        tracing::warn!(
            action = if to_lobby { "returnToLobby" } else { "admit" },
            "grant refused: only the host moves people between lobby and room"
        );
        return Some(ServerMessage::error(
            "forbidden",
            "only the host may admit participants or return them to the lobby",
            false,
        ));
    }
    if !state.lobby.set(session.id, target, to_lobby) {
        return None;
    }
    tracing::info!(%target, to_lobby, "lobby changed by host");
    if let Some(media) = state
        .presence
        .tell(session.id, target, PresenceEvent::Lobby(to_lobby))
    {
        state.sfu.set_present(media, !to_lobby);
    }
    None
}

/// Creates the session's defense state machine on first join: seats from the booking,
/// phase budgets from its agenda (defaults when booked without one).
async fn ensure_defense(state: &AppState, session: &Session) {
    use crate::runtime::defense::{Defense, PhaseBudget, Seat};
    use std::time::Duration;
    let participants = match state.store.participants(session.id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "participants could not be loaded");
            return;
        }
    };
    let seats = participants
        .iter()
        .map(|p| {
            let seat = match p.role {
                Role::Host => Seat::Host,
                Role::Expert => Seat::Expert,
                Role::Applicant => Seat::Applicant,
                _ => Seat::Other,
            };
            (p.id, seat)
        })
        .collect();
    let minutes = |m: i64| Duration::from_secs(u64::try_from(m).unwrap_or(0) * 60);
    let budget = match session.agenda {
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
    };
    state
        .defenses
        .ensure(session.id, || Defense::new(budget, Vec::new(), seats));
}

/// The current phase as a message, with its end in server (UTC) time.
fn phase_message(state: &AppState, session: uuid::Uuid) -> Option<ServerMessage> {
    let now = std::time::Instant::now();
    let (phase, remaining) = state.defenses.snapshot(session, now)?;
    let ends_at = remaining.map(|r| match r {
        Ok(left) => Utc::now() + chrono::Duration::from_std(left).unwrap_or_default(),
        Err(over) => Utc::now() - chrono::Duration::from_std(over).unwrap_or_default(),
    });
    Some(ServerMessage::Phase { phase, ends_at })
}

/// Runs a host command on the session's defense; errors become the sender's reply.
fn run_rule(
    state: &AppState,
    session: uuid::Uuid,
    rule: impl FnOnce(
        &mut crate::runtime::defense::Defense,
        std::time::Instant,
    ) -> Result<
        Vec<crate::runtime::defense::Effect>,
        crate::runtime::defense::RuleError,
    >,
) -> Option<ServerMessage> {
    let now = std::time::Instant::now();
    match state.defenses.with(session, |d| rule(d, now)) {
        None => Some(ServerMessage::error(
            "not_a_defense",
            "this session has no agenda to control",
            false,
        )),
        Some(Ok(effects)) => {
            apply_effects(state, session, effects);
            None
        }
        Some(Err(e)) => {
            let code = match e {
                crate::runtime::defense::RuleError::NotHost => {
                    tracing::warn!(error = %e, "grant refused");
                    "forbidden"
                }
                crate::runtime::defense::RuleError::AdmissionClosed(_) => "admission_closed",
                _ => "refused",
            };
            Some(ServerMessage::error(code, e.to_string(), false))
        }
    }
}

/// Admits or returns a participant: through the defense's rules in a defense (the
/// applicant only, never during deliberation or scoring), directly otherwise.
fn admit_or_return(
    state: &AppState,
    session: &Session,
    by: &Participant,
    target: uuid::Uuid,
    to_lobby: bool,
) -> Option<ServerMessage> {
    if session.kind != scheduler::SessionKind::Defense {
        return move_between_lobby_and_room(state, session, by, target, to_lobby);
    }
    let by_id = by.id;
    let is_applicant = state
        .defenses
        .with(session.id, |d| d.is_applicant(target))
        .unwrap_or(false);
    if !is_applicant {
        return Some(ServerMessage::error(
            "refused",
            "only the applicant waits in a defense's lobby",
            false,
        ));
    }
    run_rule(state, session.id, |d, _| {
        if to_lobby {
            d.return_to_lobby(by_id)
        } else {
            d.admit(by_id)
        }
    })
}

/// Carries out what the defense's rules decided: phase broadcasts (and their record),
/// moving the applicant between lobby and room in the SFU, countdown alerts.
pub fn apply_effects(
    state: &AppState,
    session: uuid::Uuid,
    effects: Vec<crate::runtime::defense::Effect>,
) {
    use crate::runtime::defense::Effect;
    for effect in effects {
        match effect {
            Effect::PhaseChanged { phase, .. } => {
                let store = state.store.clone();
                let name = serde_json::to_value(phase)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let at = Utc::now();
                tokio::spawn(async move {
                    if let Err(e) = store.record_phase(session, &name, at).await {
                        tracing::error!(error = %e, "phase change not recorded");
                    }
                });
                if let Some(message) = phase_message(state, session) {
                    state
                        .presence
                        .broadcast(session, PresenceEvent::Notice(message));
                }
            }
            Effect::Extended { .. } => {
                if let Some(message) = phase_message(state, session) {
                    state
                        .presence
                        .broadcast(session, PresenceEvent::Notice(message));
                }
            }
            Effect::ToLobby(who) | Effect::ToRoom(who) => {
                let to_lobby = matches!(effect, Effect::ToLobby(_));
                state.lobby.set(session, who, to_lobby);
                if let Some(media) =
                    state
                        .presence
                        .tell(session, who, PresenceEvent::Lobby(to_lobby))
                {
                    state.sfu.set_present(media, !to_lobby);
                }
            }
            Effect::OneMinuteLeft(phase) | Effect::Overtime(phase) => {
                let alert = if matches!(effect, Effect::Overtime(_)) {
                    "overtime"
                } else {
                    "oneMinuteLeft"
                };
                state.presence.broadcast(
                    session,
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
