//! The set-up check's media session (`GET /rtc?token=…&check=1`): the participant's
//! browser sends its camera and microphone into a room of its own and gets them back
//! through the SFU, over whatever path its network allows (UDP, ICE-TCP, a TURN
//! relay). The page measures that loopback; nothing is recorded or kept but the
//! figures it posts (`http::setup`). Days before the session, like the check page.

use std::time::Duration;

use chrono::Utc;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use media::sfu::SourcePolicy;
use media::{JoinRequest, MediaGrant, PeerEvent};
use scheduler::{Participant, Session};
use uuid::Uuid;

use super::Frame;
use super::protocol::{
    ClientMessage, PROTOCOL_VERSION, PeerInfo, ProtocolError, ServerMessage, parse_client_message,
};
use super::ws::{await_join, send};
use crate::budget::{ConnectionBudget, SignalingClass, Verdict};
use crate::state::AppState;

/// The longest a check's media session runs.
pub const CHECK_LIFETIME: Duration = Duration::from_secs(90);

/// Runs one check session until the page leaves, the socket closes or
/// [`CHECK_LIFETIME`] passes.
pub async fn run<S, R>(
    mut sink: S,
    mut stream: R,
    state: AppState,
    participant: Participant,
    session: Session,
) where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    if !await_join(&mut sink, &mut stream).await {
        return;
    }
    let mut peer = state.sfu.join(JoinRequest {
        room: format!("check:{}", Uuid::new_v4()),
        label: format!("check-{}", participant.id),
        grant: MediaGrant {
            publish: true,
            subscribe: true,
            echo: true,
        },
        sources: SourcePolicy {
            microphone: true,
            camera: true,
            screen: false,
        },
    });
    let relay_until = Utc::now() + chrono::Duration::from_std(CHECK_LIFETIME).unwrap_or_default();
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        me: PeerInfo {
            id: participant.id,
            name: participant.name.clone(),
            role: participant.role,
        },
        session_id: session.id,
        session_title: session.title.clone(),
        session_kind: session.kind,
        participants: Vec::new(),
        ice_servers: crate::turn::ice_servers(
            &state.settings.turn,
            participant.id,
            relay_until,
            Utc::now(),
        )
        .into_iter()
        .collect(),
    };
    if !send(&mut sink, &welcome).await {
        return;
    }
    let mut budget = ConnectionBudget::default();
    let over = tokio::time::sleep(CHECK_LIFETIME);
    tokio::pin!(over);
    loop {
        tokio::select! {
            () = &mut over => {
                let _ = send(&mut sink, &ServerMessage::error("check_over", "the check's time is over", true)).await;
                break;
            }
            incoming = stream.next() => {
                let parsed = match incoming {
                    Some(Frame::Text(text)) => parse_client_message(&text),
                    Some(Frame::Binary(_)) => Err(ProtocolError::Binary),
                    Some(Frame::Ping | Frame::Pong) => continue,
                    Some(Frame::Close) | None => break,
                };
                let class = parsed.as_ref().map_or(SignalingClass::Malformed, |_| SignalingClass::Negotiation);
                if budget.charge(class, std::time::Instant::now()) == Verdict::Close {
                    break;
                }
                match parsed {
                    Ok(ClientMessage::Answer { sdp }) => peer.answer(sdp),
                    Ok(ClientMessage::Renegotiate) => peer.renegotiate(),
                    Ok(ClientMessage::Leave) => break,
                    // Nothing else has a meaning in a check.
                    Ok(_) => {}
                    Err(e) => {
                        let _ = send(&mut sink, &ServerMessage::error(e.code(), e.to_string(), false)).await;
                    }
                }
            }
            event = peer.next_event() => {
                match event {
                    Some(PeerEvent::Offer { sdp }) => {
                        if !send(&mut sink, &ServerMessage::Offer { sdp }).await {
                            break;
                        }
                    }
                    Some(PeerEvent::Closed { .. }) | None => break,
                    Some(_) => {}
                }
            }
        }
    }
    drop(peer);
    let _ = sink.close().await;
}
