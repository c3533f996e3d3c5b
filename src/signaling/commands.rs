//! What a joined participant's messages do beyond media negotiation: every session
//! command (agenda, lobby, scores, host controls, hands, chat, ratings) is checked
//! against the sender's role by the pure rules in [`crate::runtime`], carried out by
//! the room service ([`crate::rooms::effects`]: SFU source policy, presence
//! messages) or stored here, and audited. A refused command
//! gets a `forbidden` (or more specific) error, is logged, and lands in the audit log
//! as `refused`; nothing changes.

use chrono::Utc;
use scheduler::record::{ChatMessage, Rating, ScoreSheetRecord};
use scheduler::{Participant, Role, Session, SessionKind};
use serde_json::json;
use uuid::Uuid;

use super::presence::PresenceEvent;
use super::protocol::{ClientMessage, ServerMessage};
use crate::audit::Actor;
use crate::rooms::effects::{
    apply_effects, apply_room_effects, ask_for_ratings, chat_line, move_person, scores_message,
    sheet_message,
};
use crate::runtime::defense::{Defense, Effect, Phase, RuleError, ScoreSheet};
use crate::runtime::room::{RoomEffect, RoomError, RoomRules, is_asked_for_rating};
use crate::state::AppState;

/// One participant's connection to a session, as commands see it.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The room (the session itself, or the panel day it belongs to).
    pub room: Uuid,
    /// The session the command concerns: the sender's own, or for a panel member
    /// the defense currently held in the room.
    pub session: &'a Session,
    /// The sender, as known in the room.
    pub me: &'a Participant,
}

impl Ctx<'_> {
    fn audit(&self, action: &str, detail: serde_json::Value) {
        self.state.audit.record(
            Some(self.session.id),
            Actor::Participant(self.me.id),
            action,
            detail,
        );
    }

    /// Logs a refusal and returns the reply for the sender. The connection's budget
    /// counts it and audits the first few (`signaling::ws`), so a client repeating a
    /// forbidden command cannot fill the audit log.
    fn refused(&self, action: &str, code: &str, message: String) -> Vec<ServerMessage> {
        if code == "forbidden" {
            tracing::warn!(action, "grant refused: {message}");
        }
        vec![ServerMessage::error(code, message, false)]
    }

    fn room_error(&self, action: &str, e: RoomError) -> Vec<ServerMessage> {
        let code = match e {
            RoomError::Forbidden(_) => "forbidden",
            RoomError::UnknownParticipant => "unknown_participant",
            RoomError::NotApplicable(_) => "refused",
        };
        self.refused(action, code, e.to_string())
    }

    fn rule_error(&self, action: &str, e: RuleError) -> Vec<ServerMessage> {
        let code = match e {
            RuleError::NotHost | RuleError::NotExpert => "forbidden",
            RuleError::AdmissionClosed(_) => "admission_closed",
            _ => "refused",
        };
        self.refused(action, code, e.to_string())
    }
}

/// The stable name of a client message, for logs and the audit log.
pub fn action_name(msg: &ClientMessage) -> &'static str {
    match msg {
        ClientMessage::Join { .. } => "join",
        ClientMessage::Answer { .. } => "answer",
        ClientMessage::Candidate { .. } => "candidate",
        ClientMessage::Leave => "leave",
        ClientMessage::Admit { .. } => "admit",
        ClientMessage::Advance => "advance",
        ClientMessage::Back => "back",
        ClientMessage::Extend { .. } => "extend",
        ClientMessage::ReturnToLobby { .. } => "returnToLobby",
        ClientMessage::SubmitScores { .. } => "submitScores",
        ClientMessage::ReopenScores { .. } => "reopenScores",
        ClientMessage::Mute { .. } => "mute",
        ClientMessage::Unmute => "unmute",
        ClientMessage::AskUnmute { .. } => "askUnmute",
        ClientMessage::AllowScreen { .. } => "allowScreen",
        ClientMessage::Promote { .. } => "promote",
        ClientMessage::RaiseHand { .. } => "raiseHand",
        ClientMessage::Remove { .. } => "remove",
        ClientMessage::Recording { .. } => "recording",
        ClientMessage::Chat { .. } => "chat",
        ClientMessage::RemoveChat { .. } => "removeChat",
        ClientMessage::Close => "close",
        ClientMessage::Rate { .. } => "rate",
        ClientMessage::Renegotiate => "renegotiate",
        ClientMessage::PreferLayer { .. } => "preferLayer",
        ClientMessage::Report(_) => "report",
    }
}

/// Handles a session command; returns the replies for the sender.
pub async fn handle(ctx: &Ctx<'_>, msg: ClientMessage) -> Vec<ServerMessage> {
    let action = action_name(&msg);
    let me = ctx.me.id;
    match msg {
        ClientMessage::Admit { participant_id } => lobby_move(ctx, participant_id, false),
        ClientMessage::ReturnToLobby { participant_id } => lobby_move(ctx, participant_id, true),
        ClientMessage::Advance => defense_rule(ctx, action, |d, now| d.advance(me, now)),
        ClientMessage::Back => defense_rule(ctx, action, |d, now| d.back(me, now)),
        ClientMessage::Extend { minutes } => {
            defense_rule(ctx, action, |d, _| d.extend(me, minutes))
        }
        ClientMessage::SubmitScores { scores, comment } => {
            let replies = defense_rule(ctx, action, |d, _| d.submit(me, scores, comment));
            if replies.is_empty() {
                return persist_sheet(ctx, me, None).await;
            }
            replies
        }
        ClientMessage::ReopenScores { expert_id, reason } => {
            let why = reason.trim().to_owned();
            let replies = defense_rule(ctx, action, |d, _| d.reopen(me, expert_id, &reason));
            if replies.is_empty() {
                return persist_sheet(ctx, expert_id, Some(why)).await;
            }
            replies
        }
        ClientMessage::Mute { participant_id } => {
            room_rule(ctx, action, participant_id, |r| r.mute(me, participant_id))
        }
        ClientMessage::Unmute => room_rule(ctx, action, me, |r| Ok(r.unmute_self(me))),
        ClientMessage::AskUnmute { participant_id } => {
            room_rule(ctx, action, participant_id, |r| {
                r.ask_unmute(me, participant_id)
            })
        }
        ClientMessage::AllowScreen {
            participant_id,
            allowed,
        } => room_rule(ctx, action, participant_id, |r| {
            r.allow_screen(me, participant_id, allowed)
        }),
        ClientMessage::Promote {
            participant_id,
            promoted,
        } => room_rule(ctx, action, participant_id, |r| {
            r.promote(me, participant_id, promoted)
        }),
        ClientMessage::RaiseHand { raised } => {
            room_rule(ctx, action, me, |r| r.raise_hand(me, raised))
        }
        ClientMessage::Remove { participant_id } => room_rule(ctx, action, participant_id, |r| {
            r.remove(me, participant_id)
        }),
        ClientMessage::Recording { on } => room_rule(ctx, action, me, |r| r.set_recording(me, on)),
        ClientMessage::Chat { text } => chat(ctx, text).await,
        ClientMessage::RemoveChat { id } => remove_chat(ctx, id).await,
        ClientMessage::Close => close_training(ctx),
        ClientMessage::Rate {
            stars,
            comment,
            session_id,
        } => rate(ctx, session_id.unwrap_or(ctx.session.id), stars, comment).await,
        // Media negotiation and joining are the connection's own business.
        ClientMessage::Join { .. }
        | ClientMessage::Answer { .. }
        | ClientMessage::Candidate { .. }
        | ClientMessage::Leave
        | ClientMessage::Report(_)
        | ClientMessage::PreferLayer { .. }
        | ClientMessage::Renegotiate => Vec::new(),
    }
}

/// Runs a rule of the room; carries out its effects, audits what changed.
fn room_rule(
    ctx: &Ctx<'_>,
    action: &'static str,
    target: Uuid,
    rule: impl FnOnce(&mut RoomRules) -> Result<Vec<RoomEffect>, RoomError>,
) -> Vec<ServerMessage> {
    match ctx.state.rooms.with(ctx.room, rule) {
        None => vec![ServerMessage::error(
            "not_ready",
            "the room is not ready",
            false,
        )],
        Some(Err(e)) => ctx.room_error(action, e),
        Some(Ok(effects)) => {
            if !effects.is_empty() && !matches!(action, "raiseHand") {
                ctx.audit(action, json!({ "target": target }));
            }
            apply_room_effects(ctx.state, ctx.room, effects);
            Vec::new()
        }
    }
}

/// Admits or returns a participant: through the defense's rules in a defense (the
/// applicant only, never during deliberation or scoring); in other sessions the host
/// moves whoever waits.
fn lobby_move(ctx: &Ctx<'_>, target: Uuid, to_lobby: bool) -> Vec<ServerMessage> {
    let action = if to_lobby { "returnToLobby" } else { "admit" };
    let me = ctx.me.id;
    if ctx.session.kind == SessionKind::Defense {
        let is_applicant = ctx
            .state
            .defenses
            .with(ctx.session.id, |d| d.is_applicant(target))
            .unwrap_or(false);
        if ctx.me.role == Role::Host && !is_applicant {
            return vec![ServerMessage::error(
                "refused",
                "only the applicant waits in a defense's lobby",
                false,
            )];
        }
        return defense_rule(ctx, action, |d, _| {
            if to_lobby {
                d.return_to_lobby(me)
            } else {
                d.admit(me)
            }
        });
    }
    if ctx.me.role != Role::Host {
        return ctx.refused(
            action,
            "forbidden",
            "only the host may admit participants or return them to the lobby".into(),
        );
    }
    move_person(ctx.state, ctx.room, target, to_lobby);
    ctx.audit(action, json!({ "target": target }));
    Vec::new()
}

/// Runs a rule of the session's defense; errors become the sender's reply.
fn defense_rule(
    ctx: &Ctx<'_>,
    action: &'static str,
    rule: impl FnOnce(&mut Defense, std::time::Instant) -> Result<Vec<Effect>, RuleError>,
) -> Vec<ServerMessage> {
    let now = std::time::Instant::now();
    match ctx.state.defenses.with(ctx.session.id, |d| rule(d, now)) {
        None => vec![ServerMessage::error(
            "not_a_defense",
            "this session has no agenda or scores",
            false,
        )],
        Some(Err(e)) => ctx.rule_error(action, e),
        Some(Ok(effects)) => {
            if !effects.is_empty() {
                apply_effects(
                    ctx.state,
                    ctx.session.id,
                    Actor::Participant(ctx.me.id),
                    effects,
                );
            }
            Vec::new()
        }
    }
}

/// How often a score sheet write is tried before the expert is told it failed.
const SHEET_WRITE_ATTEMPTS: u32 = 5;

/// Writes a submitted sheet (or a reopening) to the store, retrying with a doubling
/// pause up to [`SHEET_WRITE_ATTEMPTS`] times; whether it is on record.
async fn store_sheet(
    ctx: &Ctx<'_>,
    stored_as: Uuid,
    reopen_reason: Option<&str>,
    sheet: Option<&ScoreSheet>,
) -> bool {
    let session = ctx.session.id;
    let mut wait = std::time::Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        let result = match (reopen_reason, sheet) {
            (Some(reason), _) => {
                ctx.state
                    .store
                    .reopen_score_sheet(session, stored_as, reason)
                    .await
            }
            (None, Some(sheet)) => {
                ctx.state
                    .store
                    .save_score_sheet(&ScoreSheetRecord {
                        session_id: session,
                        expert_id: stored_as,
                        scores: sheet.scores.clone(),
                        comment: sheet.comment.clone(),
                        submitted_at: Utc::now(),
                        locked: sheet.submitted,
                        reopen_reason: None,
                    })
                    .await
            }
            (None, None) => Ok(()),
        };
        match result {
            Ok(()) => break true,
            Err(e) if attempt < SHEET_WRITE_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "score sheet not stored yet; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(error = %e, "score sheet not stored");
                break false;
            }
        }
    }
}

/// Stores an expert's sheet after a submission (or its reopening), audits it, and
/// tells the expert and the hosts. A write that keeps failing is retried; if it still
/// fails, a submission is unlocked again and the expert is told to resubmit: a sheet
/// the expert saw locked is always on record.
async fn persist_sheet(
    ctx: &Ctx<'_>,
    expert: Uuid,
    reopen_reason: Option<String>,
) -> Vec<ServerMessage> {
    let session = ctx.session.id;
    let Some(stored_as) = ctx.state.days.in_session(session, expert) else {
        return Vec::new();
    };
    let Some(sheet) = ctx
        .state
        .defenses
        .with(session, |d| d.sheet(expert).cloned())
    else {
        return Vec::new();
    };
    let stored = store_sheet(ctx, stored_as, reopen_reason.as_deref(), sheet.as_ref()).await;
    let mut replies = Vec::new();
    if stored {
        match &reopen_reason {
            Some(reason) => ctx.audit(
                "scoreReopened",
                json!({ "expert": expert, "reason": reason }),
            ),
            None => ctx.audit("scoreSubmitted", json!({ "expert": expert })),
        }
    } else if reopen_reason.is_none()
        && let Some(sheet) = sheet
    {
        // Not on record: the expert keeps their entries, unlocked, and resubmits.
        ctx.state.defenses.with(session, |d| {
            d.restore_sheet(
                expert,
                ScoreSheet {
                    submitted: false,
                    ..sheet
                },
            )
        });
        replies.push(ServerMessage::error(
            "not_stored",
            "your score sheet could not be stored; please submit it again",
            false,
        ));
    } else {
        // A reopening that could not be stored is undone: the sheet stays locked, as
        // the database says.
        ctx.state.defenses.with(session, |d| {
            if let Some(sheet) = d.sheet(expert).cloned() {
                d.restore_sheet(
                    expert,
                    ScoreSheet {
                        submitted: true,
                        ..sheet
                    },
                );
            }
        });
        replies.push(ServerMessage::error(
            "not_stored",
            "the reopening could not be stored; please try again",
            false,
        ));
    }
    if let Some(message) = ctx
        .state
        .defenses
        .with(session, |d| sheet_message(d, expert))
    {
        ctx.state
            .presence
            .tell(ctx.room, expert, PresenceEvent::Notice(message));
    }
    if let Some(scores) = scores_message(ctx.state, session).await {
        ctx.state
            .presence
            .broadcast_to(ctx.room, &[Role::Host], PresenceEvent::Notice(scores));
    }
    replies
}

async fn chat(ctx: &Ctx<'_>, text: String) -> Vec<ServerMessage> {
    let allowed = ctx.state.rooms.with(ctx.room, |r| r.may_chat(ctx.me.id));
    match allowed {
        Some(Ok(())) => {}
        Some(Err(e)) => return ctx.room_error("chat", e),
        None => {
            return vec![ServerMessage::error(
                "not_ready",
                "the room is not ready",
                false,
            )];
        }
    }
    let text = text.trim().to_owned();
    if text.is_empty() || text.chars().count() > 1000 {
        return vec![ServerMessage::error(
            "invalid_chat",
            "a chat message has 1 to 1000 characters",
            false,
        )];
    }
    let message = ChatMessage {
        id: Uuid::new_v4(),
        session_id: ctx.session.id,
        author_id: ctx.me.id,
        author_name: ctx.me.name.clone(),
        text,
        at: Utc::now(),
        removed: false,
    };
    // Stored first: a message everyone saw is on record.
    if let Err(e) = ctx.state.store.post_chat(&message).await {
        tracing::error!(error = %e, "chat message not stored");
        return vec![ServerMessage::error(
            "internal",
            "the message could not be stored",
            false,
        )];
    }
    ctx.state.presence.broadcast(
        ctx.room,
        PresenceEvent::Notice(ServerMessage::Chat {
            message: chat_line(&message),
        }),
    );
    Vec::new()
}

async fn remove_chat(ctx: &Ctx<'_>, id: Uuid) -> Vec<ServerMessage> {
    let allowed = ctx
        .state
        .rooms
        .with(ctx.room, |r| r.may_moderate_chat(ctx.me.id));
    match allowed {
        Some(Ok(())) => {}
        Some(Err(e)) => return ctx.room_error("removeChat", e),
        None => {
            return vec![ServerMessage::error(
                "not_ready",
                "the room is not ready",
                false,
            )];
        }
    }
    match ctx
        .state
        .store
        .remove_chat(ctx.session.id, id, Utc::now())
        .await
    {
        Ok(()) => {
            ctx.audit("chatRemoved", json!({ "message": id }));
            ctx.state.presence.broadcast(
                ctx.room,
                PresenceEvent::Notice(ServerMessage::ChatRemoved { id }),
            );
            Vec::new()
        }
        Err(scheduler::StoreError::NotFound) => vec![ServerMessage::error(
            "not_found",
            "no such message in this session",
            false,
        )],
        Err(e) => {
            tracing::error!(error = %e, "chat removal not stored");
            vec![ServerMessage::error(
                "internal",
                "the removal could not be stored",
                false,
            )]
        }
    }
}

fn close_training(ctx: &Ctx<'_>) -> Vec<ServerMessage> {
    let closed = ctx
        .state
        .rooms
        .with(ctx.room, |r| r.may_close(ctx.me.id).map(|()| r.close()));
    match closed {
        Some(Ok(first)) => {
            if first {
                ctx.audit("close", json!({}));
                crate::recording::on_close(ctx.state, ctx.session.id, ctx.room);
                ask_for_ratings(ctx.state, ctx.session.id);
            }
            Vec::new()
        }
        Some(Err(e)) => ctx.room_error("close", e),
        None => vec![ServerMessage::error(
            "not_ready",
            "the room is not ready",
            false,
        )],
    }
}

async fn rate(ctx: &Ctx<'_>, session: Uuid, stars: u8, comment: String) -> Vec<ServerMessage> {
    // Only a session of this room in which the sender sits.
    let seat = (ctx.state.days.room_of(session) == ctx.room)
        .then(|| ctx.state.days.in_session(session, ctx.me.id))
        .flatten();
    let (Some(seat), true) = (seat, is_asked_for_rating(ctx.me.role)) else {
        return ctx.refused(
            "rate",
            "forbidden",
            "ratings are asked of a session's experts, applicant and trainees".into(),
        );
    };
    let closed = match ctx.session.kind {
        SessionKind::Defense => ctx
            .state
            .defenses
            .snapshot(session, std::time::Instant::now())
            .is_some_and(|(phase, _)| phase == Phase::Closed),
        SessionKind::Training => ctx
            .state
            .rooms
            .with(ctx.room, |r| r.is_closed())
            .unwrap_or(false),
    };
    if !closed {
        return vec![ServerMessage::error(
            "not_closed",
            "ratings open when the session closes",
            false,
        )];
    }
    let comment = comment.trim().to_owned();
    if !(1..=5).contains(&stars) || comment.chars().count() > 1000 {
        return vec![ServerMessage::error(
            "invalid_rating",
            "a rating is 1 to 5 stars with a comment of at most 1000 characters",
            false,
        )];
    }
    let rating = Rating {
        session_id: session,
        participant_id: seat,
        role: ctx.me.role,
        stars,
        comment,
        at: Utc::now(),
    };
    match ctx.state.store.save_rating(&rating).await {
        Ok(()) => vec![ServerMessage::Rated],
        Err(e) => {
            tracing::error!(error = %e, "rating not stored");
            vec![ServerMessage::error(
                "internal",
                "the rating could not be stored",
                false,
            )]
        }
    }
}
