//! `GET /rtc?token=…`: the signaling WebSocket's HTTP edge. The connection attempt is
//! budgeted per client address and the grant is checked before the upgrade (401
//! otherwise); the upgraded socket becomes a sink and a stream of
//! [`Frame`]s handed to the pump ([`crate::signaling::ws`], or the set-up check's,
//! [`crate::signaling::check`]).

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use scheduler::{Participant, Session};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use super::error::{ApiError, ApiQuery};
use super::limits::ClientAddr;
use crate::auth::JoinGrant;
use crate::budget::HttpClass;
use crate::signaling::Frame;
use crate::signaling::protocol::MAX_MESSAGE_BYTES;
use crate::state::AppState;

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
        return ApiError::from(e).into_response();
    }
    let ws = ws
        .max_message_size(MAX_MESSAGE_BYTES + 1024)
        .read_buffer_size(SIGNALING_READ_BUFFER);
    if query.check.is_some() {
        let token = query.token.unwrap_or_default();
        return match crate::access::admit_for_check(&state, &token, Utc::now()).await {
            Ok(a) if state.limits.charge_join(a.participant.id).is_err() => {
                ApiError::too_many(Duration::from_secs(3)).into_response()
            }
            Ok(a) => ws.on_upgrade(move |socket| {
                let span = tracing::info_span!("setup_check", session = %a.session.id, participant = %a.participant.id);
                let (sink, stream) = frames(socket);
                crate::signaling::check::run(sink, stream, state, a.participant, a.session)
                    .instrument(span)
            }),
            Err(e) => ApiError::from(e).into_response(),
        };
    }
    match admit(&state, query.token.as_deref()).await {
        Ok((grant, ..)) if state.limits.charge_join(grant.pid).is_err() => {
            ApiError::too_many(Duration::from_secs(3)).into_response()
        }
        Ok((grant, participant, session)) => ws.on_upgrade(move |socket| {
            // The span is attached to the future, not entered across its awaits: an
            // entered guard held over an await moves between threads and corrupts the
            // subscriber's span registry (the hostile soak made tracing-subscriber
            // panic on exactly that).
            let span = tracing::info_span!("signaling", session = %session.id, participant = %participant.id, role = %participant.role);
            let (sink, stream) = frames(socket);
            crate::signaling::ws::run(sink, stream, state, grant, participant, session)
                .instrument(span)
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
                crate::signaling::metering::connection_event(
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

/// The socket as frames: what the pump sends becomes WebSocket messages; what arrives
/// becomes frames until the socket closes or fails (a transport error ends the
/// stream, as a close does).
fn frames(
    socket: WebSocket,
) -> (
    impl Sink<Frame, Error = axum::Error> + Unpin + Send,
    impl Stream<Item = Frame> + Unpin + Send,
) {
    let (sink, stream) = socket.split();
    let sink = sink.with(|frame: Frame| {
        futures_util::future::ready(Ok::<_, axum::Error>(match frame {
            Frame::Text(text) => Message::Text(text.into()),
            Frame::Binary(bytes) => Message::Binary(bytes.into()),
            Frame::Ping => Message::Ping(Default::default()),
            Frame::Pong => Message::Pong(Default::default()),
            Frame::Close => Message::Close(None),
        }))
    });
    let stream = stream
        .take_while(|m| futures_util::future::ready(m.is_ok()))
        .filter_map(|m| {
            futures_util::future::ready(match m {
                Ok(Message::Text(text)) => Some(Frame::Text(text.as_str().to_owned())),
                Ok(Message::Binary(bytes)) => Some(Frame::Binary(bytes.to_vec())),
                Ok(Message::Ping(_)) => Some(Frame::Ping),
                Ok(Message::Pong(_)) => Some(Frame::Pong),
                Ok(Message::Close(_)) => Some(Frame::Close),
                Err(_) => None,
            })
        });
    (sink, Box::pin(stream))
}
