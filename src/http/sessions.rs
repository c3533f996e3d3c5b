//! Booking API: `POST /api/v1/sessions` books a session and returns one personal join
//! link per participant; `GET /api/v1/sessions/{id}` shows it with fresh links.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use scheduler::domain::{parse_time_zone, parse_utc_time};
use scheduler::{
    NewParticipant, NewSession, Participant, PersonName, Role, Session, SessionKind, Title,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson, ApiQuery};
use crate::links::{JoinLink, SetupCheckSummary, issue_join_link};
use crate::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use scheduler::model::{Notification, NotificationKind};

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions", post(create_session).get(list_sessions))
        .route("/api/v1/sessions/{id}", get(show_session))
        .route("/api/v1/sessions/{id}/reschedule", post(reschedule_session))
        .route("/api/v1/sessions/{id}/cancel", post(cancel_session))
        .route(
            "/api/v1/sessions/{id}/participants/{participant}",
            axum::routing::delete(remove_participant),
        )
        .route(
            "/api/v1/sessions/{id}/participants/{participant}/revoke",
            post(revoke_links),
        )
        .route(
            "/api/v1/sessions/{id}/notifications",
            get(list_notifications),
        )
        .route("/j/{token}/invitation.ics", get(own_invitation))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateSessionRequest {
    title: String,
    #[serde(default)]
    kind: Option<String>,
    /// RFC 3339 with an offset, e.g. `2026-12-01T09:00:00+08:00`.
    start: String,
    duration_minutes: i64,
    #[serde(default)]
    time_zone: Option<String>,
    participants: Vec<ParticipantRequest>,
    /// The project defended (defenses).
    #[serde(default)]
    project_id: Option<Uuid>,
    /// The virtual room.
    #[serde(default)]
    room_id: Option<Uuid>,
    /// Minutes after the end during which participants and room stay held.
    #[serde(default)]
    buffer_minutes: i64,
    /// The defense's phases (presentation, Q&A, deliberation), in minutes.
    #[serde(default)]
    agenda: Option<scheduler::domain::Agenda>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParticipantRequest {
    name: String,
    role: String,
    /// The registered person, when known (needed for double-booking and
    /// conflict-of-interest checks).
    #[serde(default)]
    person_id: Option<Uuid>,
}

impl CreateSessionRequest {
    fn parse(self) -> Result<NewSession, ApiError> {
        let starts_at = parse_utc_time("start", &self.start)?;
        let participants = self
            .participants
            .into_iter()
            .map(|p| {
                Ok(NewParticipant {
                    name: PersonName::parse(&p.name)?,
                    role: p.role.parse::<Role>()?,
                    person: p.person_id,
                })
            })
            .collect::<Result<Vec<_>, scheduler::DomainError>>()?;
        Ok(NewSession::parse(
            Title::parse(&self.title)?,
            match self.kind.as_deref() {
                None => SessionKind::Defense,
                Some(kind) => kind.parse()?,
            },
            starts_at,
            self.duration_minutes,
            parse_time_zone(self.time_zone.as_deref())?,
            participants,
        )?
        .with_booking(self.project_id, self.room_id, self.buffer_minutes)
        .and_then(|new| match self.agenda {
            Some(a) => new.with_agenda(scheduler::domain::Agenda::parse(
                a.presentation_minutes,
                a.qa_minutes,
                a.deliberation_minutes,
            )?),
            None => Ok(new),
        })?)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionResponse {
    session: Session,
    join_links: Vec<JoinLink>,
}

/// Every issued join link is audited: who issued it, for whom (never the link itself).
fn audit_links_issued(
    state: &AppState,
    admin: &Admin,
    session: Uuid,
    participants: &[Participant],
) {
    state.audit.record(
        Some(session),
        crate::audit::Actor::Admin(admin.user_id.to_string()),
        "linksIssued",
        serde_json::json!({ "participants": participants.iter().map(|p| p.id).collect::<Vec<_>>() }),
    );
}

async fn create_session(
    admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateSessionRequest>,
) -> Result<(StatusCode, Json<SessionResponse>), ApiError> {
    let new = body.parse()?;
    let (session, participants) = state.store.create_session(&new).await?;
    tracing::info!(session = %session.id, by = %admin.user_id, participants = participants.len(), "session booked");
    crate::notify::notify(&state, &session, &participants, NotificationKind::Invite).await?;
    let join_links = participants
        .iter()
        .map(|p| issue_join_link(&state, &session, p))
        .collect();
    audit_links_issued(&state, &admin, session.id, &participants);
    Ok((
        StatusCode::CREATED,
        Json(SessionResponse {
            session,
            join_links,
        }),
    ))
}

async fn show_session(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionResponse>, ApiError> {
    let id = parse_id(&id)?;
    let session = load_session(&state, id).await?;
    let participants = state.store.participants(id).await?;
    let checks = state.store.setup_checks(id).await?;
    let join_links = participants
        .iter()
        .map(|p| {
            let mut link = issue_join_link(&state, &session, p);
            // The latest check of each participant (oldest first in the store).
            link.setup_check = checks
                .iter()
                .rev()
                .find(|c| c.participant_id == p.id)
                .map(|c| SetupCheckSummary {
                    at: c.at,
                    verdict: c.verdict.clone(),
                    path: c.path.clone(),
                    rtt_ms: c.rtt_ms,
                    loss_percent: c.loss_percent,
                    kbps: c.kbps,
                    camera: c.camera,
                    microphone: c.microphone,
                });
            link
        })
        .collect();
    audit_links_issued(&state, &admin, session.id, &participants);
    Ok(Json(SessionResponse {
        session,
        join_links,
    }))
}

/// A session id from a path; anything else is a 404, like an unknown id.
pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("session"))
}

/// A session, or 404.
pub(crate) async fn load_session(state: &AppState, id: Uuid) -> Result<Session, ApiError> {
    state.store.session(id).await.map_err(|e| match e {
        scheduler::StoreError::NotFound => ApiError::NotFound("session"),
        other => other.into(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RescheduleRequest {
    start: String,
    duration_minutes: i64,
}

/// Moves a session. Everyone in it is affected by a new time, so everyone gets an
/// updated invitation (same UID, higher SEQUENCE).
async fn reschedule_session(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> Result<Json<Session>, ApiError> {
    let id = parse_id(&id)?;
    let starts_at = parse_utc_time("start", &body.start)?;
    if !(1..=scheduler::domain::MAX_DURATION_MINUTES).contains(&body.duration_minutes) {
        return Err(scheduler::DomainError::Invalid {
            field: "durationMinutes",
            reason: format!(
                "must be between 1 and {}",
                scheduler::domain::MAX_DURATION_MINUTES
            ),
        }
        .into());
    }
    load_session(&state, id).await?;
    let session = state
        .store
        .reschedule_session(id, starts_at, body.duration_minutes)
        .await?;
    tracing::info!(session = %id, by = %admin.user_id, sequence = session.sequence, "session rescheduled");
    let participants = state.store.participants(id).await?;
    crate::notify::notify(&state, &session, &participants, NotificationKind::Update).await?;
    Ok(Json(session))
}

/// Cancels a session and sends everyone a cancellation.
async fn cancel_session(
    admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Session>, ApiError> {
    let id = parse_id(&id)?;
    load_session(&state, id).await?;
    let session = state.store.cancel_session(id).await.map_err(|e| match e {
        scheduler::StoreError::NotFound => {
            ApiError::Conflict("the session is already cancelled".into())
        }
        other => other.into(),
    })?;
    tracing::info!(session = %id, by = %admin.user_id, "session cancelled");
    let participants = state.store.participants(id).await?;
    state.audit.record(
        Some(id),
        crate::audit::Actor::Admin(admin.user_id.to_string()),
        "cancelled",
        serde_json::json!({}),
    );
    // Open connections end now, before the e-mails go out.
    crate::rooms::seats::on_cancelled(&state, &session, &participants).await;
    crate::notify::notify(&state, &session, &participants, NotificationKind::Cancel).await?;
    Ok(Json(session))
}

/// A participant of a session, by the ids in the path; 404 otherwise.
async fn participant_of(
    state: &AppState,
    session: &str,
    participant: &str,
) -> Result<(Session, Participant), ApiError> {
    let session = load_session(state, parse_id(session)?).await?;
    let id = Uuid::parse_str(participant).map_err(|_| ApiError::NotFound("participant"))?;
    match state.store.participant(id).await {
        Ok(p) if p.session_id == session.id && !p.removed => Ok((session, p)),
        Ok(_) | Err(scheduler::StoreError::NotFound) => Err(ApiError::NotFound("participant")),
        Err(e) => Err(e.into()),
    }
}

/// Takes a participant off a booking: their links stop working, their open connection
/// closes, their time is released, and they get a cancellation of their invitation.
/// Their score sheets and ratings stay on record.
async fn remove_participant(
    admin: Admin,
    State(state): State<AppState>,
    Path((session, participant)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (session, participant) = participant_of(&state, &session, &participant).await?;
    let removed = state
        .store
        .remove_participant(session.id, participant.id)
        .await?;
    state.audit.record(
        Some(session.id),
        crate::audit::Actor::Admin(admin.user_id.to_string()),
        "participantRemoved",
        serde_json::json!({ "participant": removed.id }),
    );
    crate::rooms::seats::on_removed(&state, &removed);
    let session = load_session(&state, session.id).await?;
    crate::notify::notify(&state, &session, &[removed], NotificationKind::Cancel).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a participant's links (a link was forwarded or leaked): every link issued
/// so far stops working and their open connection closes; the answer is their new
/// link, which is also sent to them.
async fn revoke_links(
    admin: Admin,
    State(state): State<AppState>,
    Path((session, participant)): Path<(String, String)>,
) -> Result<Json<JoinLink>, ApiError> {
    let (session, participant) = participant_of(&state, &session, &participant).await?;
    let renewed = state.store.revoke_participant_links(participant.id).await?;
    state.audit.record(
        Some(session.id),
        crate::audit::Actor::Admin(admin.user_id.to_string()),
        "linksRevoked",
        serde_json::json!({ "participant": renewed.id }),
    );
    crate::rooms::seats::on_revoked(&state, &renewed);
    crate::notify::notify(
        &state,
        &session,
        std::slice::from_ref(&renewed),
        NotificationKind::Update,
    )
    .await?;
    audit_links_issued(&state, &admin, session.id, std::slice::from_ref(&renewed));
    Ok(Json(issue_join_link(&state, &session, &renewed)))
}

async fn list_notifications(
    _admin: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<Notification>>, ApiError> {
    let id = parse_id(&id)?;
    load_session(&state, id).await?;
    Ok(Json(state.store.notifications(id).await?))
}

/// A participant downloads their own current invitation with their join link's token.
async fn own_invitation(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)?;
    let admitted = crate::access::admit(&state, &token, Utc::now()).await?;
    let ics = crate::notify::invitation_for(&state, &admitted.session, &admitted.participant).await;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        ics,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct Range {
    from: String,
    to: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionWithPeople {
    #[serde(flatten)]
    session: Session,
    participants: Vec<Participant>,
}

/// Sessions starting in `[from, to)` (RFC 3339), with their participants, for the day
/// timeline.
async fn list_sessions(
    _admin: Admin,
    State(state): State<AppState>,
    ApiQuery(range): ApiQuery<Range>,
) -> Result<Json<Vec<SessionWithPeople>>, ApiError> {
    let (from, to) = (
        parse_utc_time("from", &range.from)?,
        parse_utc_time("to", &range.to)?,
    );
    if to <= from || to - from > Duration::days(31) {
        return Err(scheduler::DomainError::Invalid {
            field: "to",
            reason: "must be after from, at most 31 days later".into(),
        }
        .into());
    }
    let mut out = Vec::new();
    for session in state.store.sessions_between(from, to).await? {
        let participants = state.store.participants(session.id).await?;
        out.push(SessionWithPeople {
            session,
            participants,
        });
    }
    Ok(Json(out))
}
