//! `GET /rtc?token=…`: the WebSocket adapter. The grant is checked before the upgrade
//! (401 otherwise); then the connection is registered in presence and in the media
//! plane, and messages are shuttled between the browser, the SFU and presence until
//! either side leaves. A malformed message gets an `error` reply and changes nothing;
//! a client that keeps sending them is disconnected.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use media::{JoinRequest, MediaGrant, PeerEvent};
use scheduler::{Participant, Role, Session};
use serde::Deserialize;
use tracing::Instrument;

use super::commands;
use super::metering;
use super::presence::PresenceEvent;
use super::protocol::{
    ClientMessage, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, PeerInfo, ProtocolError, ServerMessage,
    WaitReason, parse_client_message,
};
use crate::audit::Actor;
use crate::auth::JoinGrant;
use crate::budget::HttpClass;
use crate::budget::{ConnectionBudget, SignalingClass, Verdict};
use crate::http::error::{ApiError, ApiQuery};
use crate::http::limits::ClientAddr;
use crate::runtime::room::RoomRules;
use crate::state::AppState;
use scheduler::SessionKind;
use serde_json::json;
use uuid::Uuid;

/// How long a client has to send `join` after connecting.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings an idle connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(15);
/// A connection silent for this long (no message, no pong) is considered dead: long
/// enough to ride out a network cut that ICE survives, short enough to free the
/// media resources of a vanished browser. The seat itself is kept regardless.
pub const DEAD_AFTER: Duration = Duration::from_secs(60);
/// Malformed messages tolerated before the connection is closed.
pub const MAX_PROTOCOL_ERRORS: u32 = 20;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/rtc", get(upgrade))
}

/// What each signaling connection reserves for reading (the library's default is
/// 128 KiB). Messages are small JSON, the largest an SDP of a few KiB, and one larger
/// still arrives whole: the buffer only sets how much is read at a time. A broadcast
/// keeps one such connection per trainee, so the default was most of a trainee's
/// memory (heaptrack, 100 trainees: 13.4 of 37.7 MB peak heap).
const SIGNALING_READ_BUFFER: usize = 8 * 1024;

/// How long a leaving connection's final measurement is waited for.
const FINAL_SAMPLE_WAIT: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct RtcQuery {
    token: Option<String>,
    /// The set-up check's loopback session instead of the meeting (`signaling::check`).
    #[serde(default)]
    check: Option<u8>,
}

async fn upgrade(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiQuery(query): ApiQuery<RtcQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    // Each attempt reads the database: a page reconnecting in a loop, or a bot
    // opening and dropping sockets, is budgeted per client address.
    if let Err(e) = state.limits.charge(HttpClass::Connect, client) {
        return e.into_response();
    }
    if query.check.is_some() {
        let token = query.token.unwrap_or_default();
        return match crate::access::admit_for_check(&state, &token, Utc::now()).await {
            Ok(a) if state.limits.charge_join(a.participant.id).is_err() => {
                ApiError::too_many(Duration::from_secs(3)).into_response()
            }
            Ok(a) => ws
                .max_message_size(MAX_MESSAGE_BYTES + 1024)
                .read_buffer_size(SIGNALING_READ_BUFFER)
                .on_upgrade(move |socket| {
                    let span = tracing::info_span!("setup_check", session = %a.session.id, participant = %a.participant.id);
                    super::check::run(socket, state, a.participant, a.session).instrument(span)
                }),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    match admit(&state, query.token.as_deref()).await {
        Ok((grant, ..)) if state.limits.charge_join(grant.pid).is_err() => {
            ApiError::too_many(Duration::from_secs(3)).into_response()
        }
        Ok((grant, participant, session)) => ws
            .max_message_size(MAX_MESSAGE_BYTES + 1024)
            .read_buffer_size(SIGNALING_READ_BUFFER)
            .on_upgrade(move |socket| {
                // The span is attached to the future, not entered across its awaits:
                // an entered guard held over an await moves between threads and
                // corrupts the subscriber's span registry (the hostile soak made
                // tracing-subscriber panic on exactly that).
                let span = tracing::info_span!("signaling", session = %session.id, participant = %participant.id, role = %participant.role);
                run(socket, state, grant, participant, session).instrument(span)
            }),
        Err(e) => e.into_response(),
    }
}

/// Checks the link ([`crate::access::admit`]). A refused link that this server did
/// sign is recorded as a join failure of its session, once per participant, reason and
/// ten minutes (a page retrying an expired link must not write a row each time).
async fn admit(
    state: &AppState,
    token: Option<&str>,
) -> Result<(JoinGrant, Participant, Session), ApiError> {
    let token = token.ok_or_else(ApiError::missing_credentials)?;
    match crate::access::admit(state, token, Utc::now()).await {
        Ok(a) => Ok((a.grant, a.participant, a.session)),
        Err(e) => {
            tracing::info!(code = e.code(), "signaling refused");
            if let Some(grant) = state.signer.authentic_join(token)
                && state.limits.first_join_failure(grant.pid, e.code())
            {
                metering::connection_event(
                    state,
                    grant.sid,
                    grant.pid,
                    "joinFailed",
                    json!({ "reason": e.code() }),
                );
            }
            Err(e.into())
        }
    }
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

    // 2. Find the room (a panel day shares one), load its live rules (the first joiner
    //    builds them), refuse the removed.
    let Some((room, participant, own_session)) = place(&state, &session, participant).await else {
        let _ = send(
            &mut sink,
            &ServerMessage::error("internal", "the session could not be loaded", true),
        )
        .await;
        return;
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
        tracing::warn!("a removed participant tried to rejoin");
        metering::connection_event(
            &state,
            session.id,
            participant.id,
            "joinFailed",
            json!({ "reason": "removed" }),
        );
        state.audit.record(
            Some(session.id),
            Actor::Participant(participant.id),
            "refused",
            json!({ "attempted": "join", "code": "removed" }),
        );
        let _ = send(
            &mut sink,
            &ServerMessage::error("removed", "the host removed you from this session", true),
        )
        .await;
        return;
    }

    // 3. Register: presence first (so the roster is consistent), then media.
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
    let seated = super::seats::is_seated(&state, room, participant.id);
    let waiting = in_lobby || !seated;
    let mut registration = state.presence.join(room, me.clone(), waiting);
    let mut peer = state.sfu.join(JoinRequest {
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
    metering::connection_event(&state, session.id, participant.id, "joined", json!({}));
    state
        .presence
        .set_media(room, participant.id, registration.connection, peer.id());
    // (The join above was queued first, so the forwarder knows them.)
    if waiting {
        state.sfu.set_present(peer.id(), false);
    }
    let mut current = concerned_session(&state, room, &session, &participant).await;
    let lifetime = connection_lifetime(&state, room, &grant, &participant);
    let mut greeting = vec![ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        me,
        session_id: session.id,
        session_title: session.title.clone(),
        session_kind: session.kind,
        participants: registration.others.clone(),
        // Relay credentials live as long as this connection may (its link's end and
        // the overrun grace), no longer.
        ice_servers: crate::turn::ice_servers(
            &state.settings.turn,
            participant.id,
            Utc::now()
                + chrono::Duration::from_std(lifetime).unwrap_or_else(|_| chrono::Duration::zero()),
            Utc::now(),
        )
        .into_iter()
        .collect(),
    }];
    greeting.extend(
        join_state(
            &state,
            room,
            &current,
            &participant,
            (waiting, !seated),
            &registration.others,
        )
        .await,
    );

    // 4. Shuttle until someone leaves.
    let mut protocol_errors = 0u32;
    let mut greeted = true;
    for message in &greeting {
        greeted = greeted && send(&mut sink, message).await;
    }
    let mut meter = crate::stability::Meter::default();
    // What a hostile or buggy page can make the server do per second is bounded
    // (`crate::budget`): every message passes its class's budget; sustained abuse
    // closes the connection with one audit entry.
    let mut budget = ConnectionBudget::default();
    // The path its media takes (UDP, ICE-TCP, TURN relay), recorded as it becomes
    // known or changes; what was dropped on its ICE-TCP connection, for the record.
    let mut path = metering::PathTracker::default();
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    // The link's time runs out: at its end (for a panel member, the day's last
    // defense's end) plus the overrun grace, the connection closes.
    let expiry = tokio::time::sleep(lifetime);
    tokio::pin!(expiry);
    let mut last_heard = tokio::time::Instant::now();
    if greeted {
        loop {
            tokio::select! {
                () = &mut expiry => {
                    tracing::info!("the link's time is over; closing");
                    let reason = ServerMessage::error("expired", "your link's time is over; this connection is closed", true);
                    close_with(&mut sink, &mut stream, &reason).await;
                    break;
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > DEAD_AFTER {
                        tracing::info!("no sign of life from the browser; closing");
                        break;
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
                incoming = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    let parsed = match incoming {
                        Some(Ok(Message::Text(text))) => parse_client_message(&text),
                        Some(Ok(Message::Binary(_))) => Err(ProtocolError::Binary),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    };
                    let now = std::time::Instant::now();
                    let class = match &parsed {
                        Ok(message) => class_of(message),
                        Err(_) => SignalingClass::Malformed,
                    };
                    let replies = match (budget.charge(class, now), parsed) {
                        (Verdict::Close, _) => {
                            close_for_abuse(&state, &session, &participant, &budget, "flood");
                            let reason = ServerMessage::error("rate_limited", "too many messages; this connection is closed", true);
                            close_with(&mut sink, &mut stream, &reason).await;
                            break;
                        }
                        (Verdict::Refuse, Ok(_)) if class.silent() => Vec::new(),
                        (Verdict::Refuse, Ok(message)) => {
                            vec![ServerMessage::error("rate_limited", format!("too many {} messages; wait a moment", commands::action_name(&message)), false)]
                        }
                        (Verdict::Allow, Ok(ClientMessage::Answer { sdp })) => { peer.answer(sdp); Vec::new() }
                        (Verdict::Allow, Ok(ClientMessage::PreferLayer { track, layer })) => {
                            peer.prefer_layer(track, layer.index());
                            Vec::new()
                        }
                        (Verdict::Allow, Ok(ClientMessage::Renegotiate)) => {
                            peer.renegotiate();
                            Vec::new()
                        }
                        (Verdict::Allow, Ok(ClientMessage::Report(report))) => {
                            let per_track: Vec<(String, u64)> = report.tracks.iter().map(|t| (t.track_identifier.clone(), t.freeze_count)).collect();
                            meter.on_browser_freezes(report.freeze_count, &per_track);
                            if let Some(changed) = path.on_browser(report.candidate_type.as_deref()) {
                                metering::connection_event(&state, session.id, participant.id, "path", json!({ "path": changed }));
                            }
                            metering::connection_event(&state, session.id, participant.id, "report", serde_json::to_value(&report).unwrap_or_default());
                            Vec::new()
                        }
                        (Verdict::Allow, Ok(ClientMessage::Candidate { .. })) => Vec::new(),
                        (Verdict::Allow, Ok(ClientMessage::Leave)) => break,
                        (Verdict::Allow, Ok(ClientMessage::Join { .. })) => vec![ServerMessage::error("already_joined", "join was already accepted", false)],
                        (Verdict::Allow, Ok(_)) if !state.audit.has_room_for(participant.id) => {
                            // The audit writer is behind: refuse rather than act
                            // without a record (`crate::audit`).
                            vec![ServerMessage::error("busy", "the server is busy; try again in a moment", false)]
                        }
                        (Verdict::Allow, Ok(command)) => {
                            // A panel member's commands concern the defense being held now.
                            if current.id != state.days.current(room) {
                                current = concerned_session(&state, room, &session, &participant).await;
                            }
                            let action = commands::action_name(&command);
                            let ctx = commands::Ctx { state: &state, room, session: &current, me: &participant };
                            let replies = commands::handle(&ctx, command).await;
                            if let Some(code) = replies.iter().find_map(refusal_code) {
                                if code == "forbidden" && budget.audit_refusal(action, now) {
                                    state.audit.record(Some(current.id), Actor::Participant(participant.id), "refused", json!({ "attempted": action, "code": code }));
                                }
                                if budget.strike(now) == Verdict::Close {
                                    close_for_abuse(&state, &session, &participant, &budget, "refusals");
                                    let reason = ServerMessage::error("rate_limited", "too many refused commands; this connection is closed", true);
                                    close_with(&mut sink, &mut stream, &reason).await;
                                    break;
                                }
                            }
                            replies
                        }
                        (Verdict::Allow | Verdict::Refuse, Err(e)) => {
                            protocol_errors += 1;
                            let fatal = protocol_errors >= MAX_PROTOCOL_ERRORS;
                            tracing::info!(code = e.code(), protocol_errors, "bad signaling message");
                            let reply = ServerMessage::error(e.code(), e.to_string(), fatal);
                            if !send(&mut sink, &reply).await || fatal {
                                break;
                            }
                            Vec::new()
                        }
                    };
                    let mut open = true;
                    for reply in &replies {
                        open = open && send(&mut sink, reply).await;
                    }
                    if !open {
                        break;
                    }
                }
                event = peer.next_event() => {
                    let msg = match event {
                        Some(PeerEvent::Offer { sdp }) => ServerMessage::Offer { sdp },
                        // Browsers are always offered to, never answered.
                        Some(PeerEvent::Answer { .. }) => continue,
                        Some(PeerEvent::Rejected { reason }) => ServerMessage::error("rejected", reason, false),
                        Some(PeerEvent::Sample(sample)) => {
                            if let Some(changed) = path.on_sample(&sample) {
                                metering::connection_event(&state, session.id, participant.id, "path", json!({ "path": changed }));
                            }
                            metering::record(&state, session.id, room, participant.id, meter.on_reading(&sample));
                            continue;
                        }
                        Some(PeerEvent::ConnectionState(connection)) => {
                            metering::connection_event(&state, session.id, participant.id, &connection, json!({}));
                            continue;
                        }
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
                        Some(PresenceEvent::Lobby(in_lobby)) => ServerMessage::Lobby { in_lobby, reason: None },
                        Some(PresenceEvent::Notice(message)) => message,
                        Some(PresenceEvent::Revoked { code, message }) => {
                            tracing::info!(code, "closing: the right to be here ended");
                            let reason = ServerMessage::error(code, message, true);
                            close_with(&mut sink, &mut stream, &reason).await;
                            break;
                        }
                        Some(PresenceEvent::Removed) => {
                            let _ = send(&mut sink, &ServerMessage::error("removed", "the host removed you from this session", true)).await;
                            break;
                        }
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
    // The connection's last interval (all of one shorter than an interval) is read as
    // it ends; bounded, so a busy media plane cannot hold up the leave.
    if let Ok(Some(sample)) = tokio::time::timeout(FINAL_SAMPLE_WAIT, peer.leave()).await {
        if let Some(changed) = path.on_sample(&sample) {
            metering::connection_event(
                &state,
                session.id,
                participant.id,
                "path",
                json!({ "path": changed }),
            );
        }
        metering::record(
            &state,
            session.id,
            room,
            participant.id,
            meter.on_reading(&sample),
        );
    }
    state
        .presence
        .leave(room, participant.id, registration.connection);
    state.audit.record(
        Some(session.id),
        Actor::Participant(participant.id),
        "leave",
        json!({}),
    );
    metering::connection_event(
        &state,
        session.id,
        participant.id,
        "left",
        json!({ "path": path.current(), "tcpDropped": path.tcp_dropped() }),
    );
    drop(peer);
    let _ = sink.close().await;
    tracing::info!("left");
}

/// What a participant learns right after `welcome`: lobby, phase, what they may send,
/// recording, others' controls, the chat so far, and their score sheet (experts) or
/// the scores (hosts).
async fn join_state(
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
    out.extend(commands::phase_message(state, session.id));
    if participant.role == Role::Applicant
        && let Some(ahead) = state.days.with(room, |q| q.position(session.id)).flatten()
    {
        out.push(ServerMessage::Queue { ahead });
    }
    if let Some(room) = state.rooms.with(room, |r| {
        let mut m = vec![
            commands::sources_message(r, participant.id),
            ServerMessage::Recording { on: r.recording() },
        ];
        m.extend(
            others
                .iter()
                .filter(|o| r.controls(o.id) != Default::default())
                .map(|o| commands::participant_state(r, o.id)),
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
                            message: commands::chat_line(m),
                        }),
                )
            }
            Err(e) => tracing::error!(error = %e, "chat history could not be loaded"),
        }
    }
    match participant.role {
        Role::Expert => out.extend(
            state
                .defenses
                .with(session.id, |d| commands::sheet_message(d, participant.id)),
        ),
        Role::Host => out.extend(commands::scores_message(state, session.id).await),
        _ => {}
    }
    out
}

/// Places a participant: finds the session's room (registering its panel day on
/// first sight), builds the room's rules, the defenses it needs, and returns the
/// room, the participant as known in the room, and their own session.
async fn place(
    state: &AppState,
    session: &Session,
    participant: Participant,
) -> Option<(Uuid, Participant, Session)> {
    // Someone joined before: the day is registered and the rules are built, so the
    // day's bookings need not be read again (5–20 people join each defense).
    let known = state.days.room_of(session.id);
    if state.rooms.contains(known)
        && (session.kind != SessionKind::Defense || state.defenses.contains(session.id))
    {
        let participant = as_known_in_room(state, participant).await?;
        return Some((known, participant, session.clone()));
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
    let participant = as_known_in_room(state, participant).await?;
    if session.kind == SessionKind::Defense {
        let own: Vec<Participant> = everyone
            .iter()
            .filter(|p| p.session_id == session.id)
            .cloned()
            .collect();
        ensure_defense(state, session, &own).await;
    }
    Some((room, participant, session.clone()))
}

/// A panel member as the room knows them (one identity across a day's links).
async fn as_known_in_room(state: &AppState, participant: Participant) -> Option<Participant> {
    let canonical = state.days.canonical(participant.id);
    if canonical == participant.id {
        Some(participant)
    } else {
        state.store.participant(canonical).await.ok()
    }
}

/// The defenses of the session's panel day in booked order, with their participants;
/// `None` when the session is not part of one.
async fn day_of(
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
async fn concerned_session(
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
    use crate::runtime::defense::{Defense, PhaseBudget, ScoreSheet, Seat};
    use std::time::Duration;
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

/// How long from now a connection may stay open: until its link's end (a panel
/// member's until the day's last defense ends) plus the configured overrun grace.
fn connection_lifetime(
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

/// How long a closing connection's remaining input is read and discarded.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Tells the client why it is being closed and closes cleanly: a close frame, then
/// whatever it still sends is read and discarded for a moment (bounded), so the
/// kernel does not answer unread input with a reset that would lose the reason.
async fn close_with(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    reason: &ServerMessage,
) {
    if !send(sink, reason).await {
        return;
    }
    let _ = sink.send(Message::Close(None)).await;
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The budget class of a message.
fn class_of(message: &ClientMessage) -> SignalingClass {
    match message {
        ClientMessage::Answer { .. }
        | ClientMessage::Candidate { .. }
        | ClientMessage::Join { .. }
        | ClientMessage::Leave => SignalingClass::Negotiation,
        ClientMessage::Renegotiate => SignalingClass::Renegotiate,
        ClientMessage::PreferLayer { .. } => SignalingClass::Layer,
        ClientMessage::Report(_) => SignalingClass::Report,
        ClientMessage::Chat { .. } => SignalingClass::Chat,
        _ => SignalingClass::Command,
    }
}

/// The code of a reply that refuses a command (not a `rate_limited` or `busy`, which
/// the budget already counted).
fn refusal_code(reply: &ServerMessage) -> Option<&str> {
    match reply {
        ServerMessage::Error { code, .. }
            if !matches!(
                code.as_str(),
                "rate_limited" | "busy" | "not_stored" | "internal" | "not_ready"
            ) =>
        {
            Some(code.as_str())
        }
        _ => None,
    }
}

/// One audit entry for a connection closed for abuse, with what it did.
fn close_for_abuse(
    state: &AppState,
    session: &Session,
    participant: &Participant,
    budget: &ConnectionBudget,
    why: &str,
) {
    tracing::warn!(
        why,
        over_budget = budget.over_budget,
        "connection closed for abuse"
    );
    state.audit.record(
        Some(session.id),
        Actor::Participant(participant.id),
        "closedForAbuse",
        json!({ "why": why, "overBudget": budget.over_budget, "unauditedRefusals": budget.unaudited_refusals }),
    );
}
