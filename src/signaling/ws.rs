//! The signaling connection of a joined participant: a pump between their socket
//! (any sink and stream of [`Frame`]s; `http::rtc` hands in a WebSocket, tests
//! channels), the media plane and the room service ([`crate::rooms`]). The first
//! message must be `join`; then the participant enters their room and messages are
//! shuttled until either side leaves. A malformed message gets an `error` reply and
//! changes nothing; a client that keeps sending them, or floods, is disconnected.

use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use media::PeerEvent;
use scheduler::{Participant, Session};
use serde_json::json;

use super::Frame;
use super::commands;
use super::metering;
use super::presence::PresenceEvent;
use super::protocol::{
    BrowserReport, ClientMessage, PROTOCOL_VERSION, ProtocolError, ServerMessage,
    parse_client_message,
};
use crate::audit::Actor;
use crate::auth::JoinGrant;
use crate::budget::{ConnectionBudget, SignalingClass, Verdict};
use crate::rooms::entry::{Entered, enter};
use crate::rooms::place::concerned_session;
use crate::state::AppState;

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

/// How long a leaving connection's final measurement is waited for.
const FINAL_SAMPLE_WAIT: Duration = Duration::from_secs(1);

/// Sends one message; false once the socket is gone.
pub async fn send<S: Sink<Frame> + Unpin>(sink: &mut S, msg: &ServerMessage) -> bool {
    sink.send(Frame::Text(msg.to_text())).await.is_ok()
}

/// Waits for the client's `join` (at most [`JOIN_TIMEOUT`]); answers anything else
/// with a fatal error. Returns whether the client joined with a protocol spoken here.
pub async fn await_join<S, R>(sink: &mut S, stream: &mut R) -> bool
where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    let first = tokio::time::timeout(JOIN_TIMEOUT, stream.next()).await;
    let join = match first {
        Ok(Some(Frame::Text(text))) => parse_client_message(&text),
        Ok(Some(Frame::Binary(_))) => Err(ProtocolError::Binary),
        _ => return false,
    };
    let refusal = match join {
        Ok(ClientMessage::Join { protocol }) if protocol == PROTOCOL_VERSION => return true,
        Ok(ClientMessage::Join { protocol }) => ServerMessage::error(
            "unsupported_protocol",
            format!("protocol {protocol} is not supported; this server speaks {PROTOCOL_VERSION}"),
            true,
        ),
        Ok(_) => ServerMessage::error("join_first", "the first message must be join", true),
        Err(e) => ServerMessage::error(e.code(), e.to_string(), true),
    };
    let _ = send(sink, &refusal).await;
    false
}

/// Runs one participant's connection until it ends.
pub async fn run<S, R>(
    mut sink: S,
    mut stream: R,
    state: AppState,
    grant: JoinGrant,
    participant: Participant,
    session: Session,
) where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    if !await_join(&mut sink, &mut stream).await {
        return;
    }
    let entered = match enter(&state, &grant, participant, session).await {
        Ok(entered) => entered,
        Err(refusal) => {
            let _ = send(&mut sink, &refusal.message()).await;
            return;
        }
    };
    pump(&mut sink, &mut stream, &state, entered).await;
    let _ = sink.close().await;
    tracing::info!("left");
}

/// Shuttles messages between the socket, the media plane and presence until either
/// side leaves; then the participant leaves the room.
async fn pump<S, R>(sink: &mut S, stream: &mut R, state: &AppState, mut entered: Entered)
where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    let mut greeted = true;
    for message in &std::mem::take(&mut entered.greeting) {
        greeted = greeted && send(sink, message).await;
    }
    let mut connection = Connection::default();
    let mut keepalive =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    // The link's time runs out: at its end (for a panel member, the day's last
    // defense's end) plus the overrun grace, the connection closes.
    let expiry = tokio::time::sleep(entered.lifetime);
    tokio::pin!(expiry);
    let mut last_heard = tokio::time::Instant::now();
    if greeted {
        loop {
            tokio::select! {
                () = &mut expiry => {
                    tracing::info!("the link's time is over; closing");
                    let reason = ServerMessage::error("expired", "your link's time is over; this connection is closed", true);
                    close_with(sink, stream, &reason).await;
                    break;
                }
                _ = keepalive.tick() => {
                    if last_heard.elapsed() > DEAD_AFTER {
                        tracing::info!("no sign of life from the browser; closing");
                        break;
                    }
                    if sink.send(Frame::Ping).await.is_err() {
                        break;
                    }
                }
                incoming = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    let parsed = match incoming {
                        Some(Frame::Text(text)) => parse_client_message(&text),
                        Some(Frame::Binary(_)) => Err(ProtocolError::Binary),
                        Some(Frame::Ping | Frame::Pong) => continue,
                        Some(Frame::Close) | None => break,
                    };
                    let step = connection.on_message(state, &mut entered, parsed).await;
                    if !take_step(sink, stream, step).await {
                        break;
                    }
                }
                event = entered.peer.next_event() => {
                    let step = connection.on_media_event(state, &entered, event);
                    if !take_step(sink, stream, step).await {
                        break;
                    }
                }
                presence = entered.registration.events.recv() => {
                    if !take_step(sink, stream, presence_step(presence)).await {
                        break;
                    }
                }
            }
        }
    }
    connection.read_last_interval(state, &mut entered).await;
    crate::rooms::entry::leave(state, &entered);
    connection.record_left(state, &entered);
}

/// What one connection keeps while it lasts.
#[derive(Default)]
struct Connection {
    /// Its media's stability, interval by interval.
    meter: crate::stability::Meter,
    /// What a hostile or buggy page can make the server do per second is bounded
    /// (`crate::budget`): every message passes its class's budget; sustained abuse
    /// closes the connection with one audit entry.
    budget: ConnectionBudget,
    /// The path its media takes (UDP, ICE-TCP, TURN relay), recorded as it becomes
    /// known or changes; what was dropped on its ICE-TCP connection, for the record.
    path: metering::PathTracker,
    /// Malformed messages so far ([`MAX_PROTOCOL_ERRORS`] closes).
    protocol_errors: u32,
}

impl Connection {
    /// One message from the page: charged to its budget, then answered, handed to the
    /// media plane, recorded, or run as a session command.
    async fn on_message(
        &mut self,
        state: &AppState,
        entered: &mut Entered,
        parsed: Result<ClientMessage, ProtocolError>,
    ) -> Step {
        let (session, participant) = (entered.session.clone(), entered.participant.clone());
        let now = std::time::Instant::now();
        let class = match &parsed {
            Ok(message) => class_of(message),
            Err(_) => SignalingClass::Malformed,
        };
        match (self.budget.charge(class, now), parsed) {
            (Verdict::Close, _) => {
                close_for_abuse(state, &session, &participant, &self.budget, "flood");
                Step::Close(ServerMessage::error(
                    "rate_limited",
                    "too many messages; this connection is closed",
                    true,
                ))
            }
            (Verdict::Refuse, Ok(_)) if class.silent() => Step::Quiet,
            (Verdict::Refuse, Ok(message)) => Step::Send(ServerMessage::error(
                "rate_limited",
                format!(
                    "too many {} messages; wait a moment",
                    commands::action_name(&message)
                ),
                false,
            )),
            (Verdict::Allow, Ok(ClientMessage::Answer { sdp })) => {
                entered.peer.answer(sdp);
                Step::Quiet
            }
            (Verdict::Allow, Ok(ClientMessage::PreferLayer { track, layer })) => {
                entered.peer.prefer_layer(track, layer.index());
                Step::Quiet
            }
            (Verdict::Allow, Ok(ClientMessage::Renegotiate)) => {
                entered.peer.renegotiate();
                Step::Quiet
            }
            (Verdict::Allow, Ok(ClientMessage::Report(report))) => {
                self.on_report(state, entered, &report);
                Step::Quiet
            }
            (Verdict::Allow, Ok(ClientMessage::Candidate { .. })) => Step::Quiet,
            (Verdict::Allow, Ok(ClientMessage::Leave)) => Step::Leave,
            (Verdict::Allow, Ok(ClientMessage::Join { .. })) => Step::Send(ServerMessage::error(
                "already_joined",
                "join was already accepted",
                false,
            )),
            (Verdict::Allow, Ok(_)) if !state.audit.has_room_for(participant.id) => {
                // The audit writer is behind: refuse rather than act without a record
                // (`crate::audit`).
                Step::Send(ServerMessage::error(
                    "busy",
                    "the server is busy; try again in a moment",
                    false,
                ))
            }
            (Verdict::Allow, Ok(command)) => self.run_command(state, entered, command, now).await,
            (Verdict::Allow | Verdict::Refuse, Err(e)) => {
                self.protocol_errors += 1;
                let fatal = self.protocol_errors >= MAX_PROTOCOL_ERRORS;
                tracing::info!(
                    code = e.code(),
                    protocol_errors = self.protocol_errors,
                    "bad signaling message"
                );
                let reply = ServerMessage::error(e.code(), e.to_string(), fatal);
                if fatal {
                    Step::End(reply)
                } else {
                    Step::Send(reply)
                }
            }
        }
    }

    /// A session command (agenda, scores, host controls, chat, ratings), run for the
    /// defense being held now; refusals count toward closing an abusive connection.
    async fn run_command(
        &mut self,
        state: &AppState,
        entered: &mut Entered,
        command: ClientMessage,
        now: std::time::Instant,
    ) -> Step {
        let (room, session, participant) = (
            entered.room,
            entered.session.clone(),
            entered.participant.clone(),
        );
        // A panel member's commands concern the defense being held now.
        if entered.current.id != state.days.current(room) {
            entered.current = concerned_session(state, room, &session, &participant).await;
        }
        let action = commands::action_name(&command);
        let ctx = commands::Ctx {
            state,
            room,
            session: &entered.current,
            me: &participant,
        };
        let replies = commands::handle(&ctx, command).await;
        if let Some(code) = replies.iter().find_map(refusal_code) {
            if code == "forbidden" && self.budget.audit_refusal(action, now) {
                state.audit.record(
                    Some(entered.current.id),
                    Actor::Participant(participant.id),
                    "refused",
                    json!({ "attempted": action, "code": code }),
                );
            }
            if self.budget.strike(now) == Verdict::Close {
                close_for_abuse(state, &session, &participant, &self.budget, "refusals");
                return Step::Close(ServerMessage::error(
                    "rate_limited",
                    "too many refused commands; this connection is closed",
                    true,
                ));
            }
        }
        Step::Reply(replies)
    }

    /// The browser's own view of its media: freezes to the meter, its media path and
    /// the report itself to the record.
    fn on_report(&mut self, state: &AppState, entered: &Entered, report: &BrowserReport) {
        let (session, participant) = (&entered.session, &entered.participant);
        let per_track: Vec<(String, u64)> = report
            .tracks
            .iter()
            .map(|t| (t.track_identifier.clone(), t.freeze_count))
            .collect();
        self.meter
            .on_browser_freezes(report.freeze_count, &per_track);
        if let Some(changed) = self.path.on_browser(report.candidate_type.as_deref()) {
            metering::connection_event(
                state,
                session.id,
                participant.id,
                "path",
                json!({ "path": changed }),
            );
        }
        metering::connection_event(
            state,
            session.id,
            participant.id,
            "report",
            serde_json::to_value(report).unwrap_or_default(),
        );
    }

    /// The connection's last interval (all of one shorter than an interval) is read as
    /// it ends; bounded, so a busy media plane cannot hold up the leave.
    async fn read_last_interval(&mut self, state: &AppState, entered: &mut Entered) {
        if let Ok(Some(sample)) =
            tokio::time::timeout(FINAL_SAMPLE_WAIT, entered.peer.leave()).await
        {
            self.on_sample(state, entered, &sample);
        }
    }

    /// One reading of the media plane: the path its media takes (recorded when it
    /// changes) and the interval's samples to the record.
    fn on_sample(&mut self, state: &AppState, entered: &Entered, sample: &media::sfu::MediaSample) {
        let (session, participant) = (entered.session.id, entered.participant.id);
        if let Some(changed) = self.path.on_sample(sample) {
            metering::connection_event(
                state,
                session,
                participant,
                "path",
                json!({ "path": changed }),
            );
        }
        metering::record(
            state,
            session,
            entered.room,
            participant,
            self.meter.on_reading(sample),
        );
    }

    /// What the media plane says about this participant's connection: offers go to
    /// the page; samples, the media path and connection states go to the record.
    fn on_media_event(
        &mut self,
        state: &AppState,
        entered: &Entered,
        event: Option<PeerEvent>,
    ) -> Step {
        let (session, participant) = (entered.session.id, entered.participant.id);
        match event {
            Some(PeerEvent::Offer { sdp }) => Step::Send(ServerMessage::Offer { sdp }),
            // Browsers are always offered to, never answered.
            Some(PeerEvent::Answer { .. }) => Step::Quiet,
            Some(PeerEvent::Rejected { reason }) => {
                Step::Send(ServerMessage::error("rejected", reason, false))
            }
            Some(PeerEvent::Sample(sample)) => {
                self.on_sample(state, entered, &sample);
                Step::Quiet
            }
            Some(PeerEvent::ConnectionState(connection)) => {
                metering::connection_event(state, session, participant, &connection, json!({}));
                Step::Quiet
            }
            Some(PeerEvent::Closed { reason }) => {
                Step::End(ServerMessage::error("media_closed", reason, true))
            }
            None => Step::End(ServerMessage::error(
                "media_closed",
                "the media service stopped",
                true,
            )),
        }
    }

    /// The connection's end on record, with the path its media took.
    fn record_left(&self, state: &AppState, entered: &Entered) {
        metering::connection_event(
            state,
            entered.session.id,
            entered.participant.id,
            "left",
            json!({ "path": self.path.current(), "tcpDropped": self.path.tcp_dropped() }),
        );
    }
}

/// What one event asks of the participant's socket.
#[derive(Debug, PartialEq)]
enum Step {
    /// Nothing to send.
    Quiet,
    /// Send this and go on.
    Send(ServerMessage),
    /// Send these and go on (a command's replies).
    Reply(Vec<ServerMessage>),
    /// The page leaves: end without a word.
    Leave,
    /// Send this last message and end the connection.
    End(ServerMessage),
    /// Tell why with a close frame, read what is still in flight, and end
    /// ([`close_with`]).
    Close(ServerMessage),
}

/// Carries out a [`Step`]; false when the connection ends.
async fn take_step<S, R>(sink: &mut S, stream: &mut R, step: Step) -> bool
where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    match step {
        Step::Quiet => true,
        Step::Send(message) => send(sink, &message).await,
        Step::Reply(replies) => {
            let mut open = true;
            for reply in &replies {
                open = open && send(sink, reply).await;
            }
            open
        }
        Step::Leave => false,
        Step::End(message) => {
            let _ = send(sink, &message).await;
            false
        }
        Step::Close(reason) => {
            close_with(sink, stream, &reason).await;
            false
        }
    }
}

/// What the room's presence tells this participant (pure).
fn presence_step(event: Option<PresenceEvent>) -> Step {
    match event {
        Some(PresenceEvent::Joined(participant)) => {
            Step::Send(ServerMessage::ParticipantJoined { participant })
        }
        Some(PresenceEvent::Left(id)) => Step::Send(ServerMessage::ParticipantLeft { id }),
        Some(PresenceEvent::Lobby(in_lobby)) => Step::Send(ServerMessage::Lobby {
            in_lobby,
            reason: None,
        }),
        Some(PresenceEvent::Notice(message)) => Step::Send(message),
        Some(PresenceEvent::Revoked { code, message }) => {
            tracing::info!(code, "closing: the right to be here ended");
            Step::Close(ServerMessage::error(code, message, true))
        }
        Some(PresenceEvent::Restarting) => {
            tracing::info!("closing: the server is restarting");
            Step::End(ServerMessage::Restarting)
        }
        Some(PresenceEvent::Removed) => Step::End(ServerMessage::error(
            "removed",
            "the host removed you from this session",
            true,
        )),
        Some(PresenceEvent::Replaced) | None => Step::End(ServerMessage::error(
            "replaced",
            "you joined again from another window",
            true,
        )),
    }
}

/// How long a closing connection's remaining input is read and discarded.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Tells the client why it is being closed and closes cleanly: a close frame, then
/// whatever it still sends is read and discarded for a moment (bounded), so the
/// kernel does not answer unread input with a reset that would lose the reason.
async fn close_with<S, R>(sink: &mut S, stream: &mut R, reason: &ServerMessage)
where
    S: Sink<Frame> + Unpin,
    R: Stream<Item = Frame> + Unpin,
{
    if !send(sink, reason).await {
        return;
    }
    let _ = sink.send(Frame::Close).await;
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(frame) = stream.next().await {
            if matches!(frame, Frame::Close) {
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

#[cfg(test)]
mod tests {
    //! The pump's edge without a socket: frames come from a stream, go into a `Vec`.

    use super::*;
    use futures_util::stream;

    #[test]
    fn presence_events_become_messages_and_the_ends_say_why() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(
            presence_step(Some(PresenceEvent::Left(id))),
            Step::Send(ServerMessage::ParticipantLeft { id })
        );
        assert_eq!(
            presence_step(Some(PresenceEvent::Restarting)),
            Step::End(ServerMessage::Restarting)
        );
        let Step::Close(revoked) = presence_step(Some(PresenceEvent::Revoked {
            code: "revoked",
            message: "your link was revoked".into(),
        })) else {
            panic!("a revoked link closes with a close frame");
        };
        assert!(revoked.to_text().contains("\"fatal\":true"), "{revoked:?}");
        for ends in [PresenceEvent::Removed, PresenceEvent::Replaced] {
            assert!(matches!(presence_step(Some(ends)), Step::End(_)));
        }
        assert!(
            matches!(presence_step(None), Step::End(_)),
            "presence gone: the connection ends"
        );
    }

    fn sent_codes(sink: &[Frame]) -> Vec<String> {
        sink.iter()
            .map(|frame| match frame {
                Frame::Text(text) => {
                    let v: serde_json::Value = serde_json::from_str(text).unwrap();
                    v["code"].as_str().unwrap_or("?").to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect()
    }

    async fn first_frames(frames: Vec<Frame>) -> (bool, Vec<String>) {
        let mut sink: Vec<Frame> = Vec::new();
        let mut incoming = stream::iter(frames);
        let joined = await_join(&mut sink, &mut incoming).await;
        (joined, sent_codes(&sink))
    }

    #[tokio::test]
    async fn a_join_in_this_protocol_is_taken_silently() {
        let join = format!(r#"{{"type":"join","protocol":{PROTOCOL_VERSION}}}"#);
        assert_eq!(first_frames(vec![Frame::Text(join)]).await, (true, vec![]));
    }

    #[tokio::test]
    async fn anything_but_a_join_first_is_refused_with_its_reason() {
        let cases = [
            (r#"{"type":"join","protocol":99}"#, "unsupported_protocol"),
            (r#"{"type":"chat","text":"hi"}"#, "join_first"),
        ];
        for (text, code) in cases {
            assert_eq!(
                first_frames(vec![Frame::Text(text.into())]).await,
                (false, vec![code.to_owned()]),
                "{text}"
            );
        }
        let (joined, sent) = first_frames(vec![Frame::Binary(vec![1, 2, 3])]).await;
        assert!(!joined);
        assert_eq!(sent.len(), 1, "one refusal for a binary frame: {sent:?}");
        let (joined, sent) = first_frames(vec![Frame::Text("{".into())]).await;
        assert!(!joined);
        assert_eq!(sent.len(), 1, "one refusal for malformed JSON: {sent:?}");
    }

    #[tokio::test]
    async fn a_socket_that_closes_before_joining_gets_nothing() {
        assert_eq!(first_frames(vec![]).await, (false, vec![]));
        assert_eq!(first_frames(vec![Frame::Close]).await, (false, vec![]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_socket_is_dropped_after_the_join_timeout() {
        let mut sink: Vec<Frame> = Vec::new();
        let mut silent = stream::pending::<Frame>();
        let started = tokio::time::Instant::now();
        assert!(!await_join(&mut sink, &mut silent).await);
        assert_eq!(started.elapsed(), JOIN_TIMEOUT);
        assert!(sink.is_empty());
    }
}
