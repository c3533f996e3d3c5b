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
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        me,
        session_id: session.id,
        session_title: session.title.clone(),
        participants: registration.others.clone(),
    };

    // 3. Shuttle until someone leaves.
    let mut protocol_errors = 0u32;
    if send(&mut sink, &welcome).await
        && (!in_lobby || send(&mut sink, &ServerMessage::Lobby { in_lobby: true }).await)
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
                            let reply = move_between_lobby_and_room(&state, &session, &participant, participant_id, false);
                            if let Some(reply) = reply && !send(&mut sink, &reply).await {
                                break;
                            }
                        }
                        Ok(ClientMessage::ReturnToLobby { participant_id }) => {
                            let reply = move_between_lobby_and_room(&state, &session, &participant, participant_id, true);
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
