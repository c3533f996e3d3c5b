//! Recordings: administrators list a session's recordings with their parts and
//! post-production state; media are served only through signed links (15 minutes,
//! bound to recording, caller and use) issued to administrators and to the session's
//! host and panel (host and trainer in training), with rights checked again on every
//! request. Issuing and downloading are audited; links never reach the logs (the
//! HTTP trace names the route pattern only).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
use scheduler::{Role, SessionKind};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use uuid::Uuid;

use super::admin_auth::Admin;
use super::credentials::caller_ids;
use super::error::{ApiError, ApiJson};
use crate::auth::token::MediaClaims;
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions/{id}/recordings", get(of_session))
        .route("/api/v1/recordings", get(recent))
        .route("/api/v1/sessions/{id}/recording-policy", put(set_policy))
        .route("/api/v1/recordings/{id}/links", post(issue_link))
        .route("/media/{token}/{*file}", get(serve_media))
}

/// One recording, its parts and its post-production job.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordingView {
    #[serde(flatten)]
    recording: RecordingRecord,
    parts: Vec<RecordingPart>,
    production: Option<ProductionJob>,
}

/// A recording in the administrators' list: its session, parts count, job, and the
/// help video it became.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedRecording {
    #[serde(flatten)]
    recording: RecordingRecord,
    session_title: String,
    session_kind: SessionKind,
    parts: usize,
    bytes: i64,
    production: Option<ProductionJob>,
    help_video_id: Option<Uuid>,
}

/// The 100 most recent recordings, newest first.
async fn recent(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<ListedRecording>>, ApiError> {
    let mut all = Vec::new();
    for s in ["recording", "stopped", "interrupted"] {
        all.extend(state.store.recordings_in_state(s).await?);
    }
    all.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    all.truncate(100);
    let published: std::collections::HashMap<Uuid, Uuid> = state
        .store
        .help_videos("", None)
        .await?
        .into_iter()
        .map(|v| (v.recording_id, v.id))
        .collect();
    let mut out = Vec::new();
    for recording in all {
        let session = state.store.session(recording.session_id).await?;
        let parts = state.store.recording_parts(recording.id).await?;
        out.push(ListedRecording {
            session_title: session.title,
            session_kind: session.kind,
            parts: parts.len(),
            bytes: parts.iter().map(|p| p.bytes).sum(),
            production: state.store.production_job_of(recording.id).await?,
            help_video_id: published.get(&recording.id).copied(),
            recording,
        });
    }
    Ok(Json(out))
}

async fn of_session(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<Json<Vec<RecordingView>>, ApiError> {
    let session = super::sessions::load_session(&state, super::sessions::parse_id(&raw)?).await?;
    let mut views = Vec::new();
    for recording in state.store.recordings_of_session(session.id).await? {
        views.push(RecordingView {
            parts: state.store.recording_parts(recording.id).await?,
            production: state.store.production_job_of(recording.id).await?,
            recording,
        });
    }
    Ok(Json(views))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Policy {
    record: bool,
}

/// Whether the session is recorded automatically (a defense from admission to close).
async fn set_policy(
    State(state): State<AppState>,
    _admin: Admin,
    Path(raw): Path<String>,
    ApiJson(policy): ApiJson<Policy>,
) -> Result<StatusCode, ApiError> {
    let session = super::sessions::load_session(&state, super::sessions::parse_id(&raw)?).await?;
    state
        .store
        .set_recording_policy(session.id, policy.record)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How long a media link lives.
pub const LINK_MINUTES: i64 = 15;

/// Who asks for a link: an administrator, or a participant through their join link.
pub(crate) enum Caller {
    Admin(Uuid),
    Participant(scheduler::Participant),
}

impl Caller {
    pub(crate) fn actor(&self) -> crate::audit::Actor {
        match self {
            Caller::Admin(uid) => crate::audit::Actor::Admin(uid.to_string()),
            Caller::Participant(p) => crate::audit::Actor::Participant(p.id),
        }
    }
}

/// Who may watch a recording of this session: administrators always; of the session's
/// own people, the host and the panel of a defense, the host and the trainer of a
/// training. Checked when a link is issued and again on every use.
pub(crate) async fn may_watch(
    state: &AppState,
    admin: Option<Uuid>,
    participant: Option<Uuid>,
    session: &scheduler::Session,
) -> Result<Caller, ApiError> {
    if let Some(uid) = admin {
        return Ok(Caller::Admin(uid));
    }
    let refused = || ApiError::Forbidden("this recording is not yours to watch".into());
    let Some(pid) = participant else {
        return Err(refused());
    };
    let me = state.store.participant(pid).await.map_err(|_| refused())?;
    let allowed = match session.kind {
        SessionKind::Defense => matches!(me.role, Role::Host | Role::Expert),
        SessionKind::Training => matches!(me.role, Role::Host | Role::Trainer),
    };
    // Taken off the booking, or the session cancelled: their rights went with it.
    if me.session_id != session.id || !allowed || me.removed || session.cancelled {
        return Err(refused());
    }
    Ok(Caller::Participant(me))
}

pub(crate) async fn produced_recording(
    state: &AppState,
    id: Uuid,
) -> Result<(RecordingRecord, scheduler::Session), ApiError> {
    let recording = state
        .store
        .recording(id)
        .await?
        .ok_or(ApiError::NotFound("recording"))?;
    if state.store.recording_expired(id).await?.is_some() {
        return Err(ApiError::NotFound(
            "recording (deleted under the retention policy)",
        ));
    }
    let done = state
        .store
        .production_job_of(id)
        .await?
        .is_some_and(|j| j.state == "done");
    if !done {
        return Err(ApiError::Conflict(
            "the recording has not been produced yet".into(),
        ));
    }
    let session = super::sessions::load_session(state, recording.session_id).await?;
    Ok((recording, session))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    #[serde(rename = "use")]
    use_: LinkUse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
enum LinkUse {
    Play,
    Download,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Link {
    url: String,
    thumbnail: Option<String>,
    chapters: Option<String>,
    expires_at: chrono::DateTime<Utc>,
}

/// Issues a signed link to a produced recording (15 minutes; bound to the recording,
/// the caller and the use). Audited; the link itself is never logged.
async fn issue_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(request): ApiJson<LinkRequest>,
) -> Result<Json<Link>, ApiError> {
    let now = Utc::now();
    let (admin, participant) = caller_ids(&state, &headers).await?;
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::NotFound("recording"))?;
    let (recording, session) = produced_recording(&state, id).await?;
    let caller = may_watch(&state, admin, participant, &session).await?;
    let expires_at = now + chrono::Duration::minutes(LINK_MINUTES);
    let (uid, adm) = match &caller {
        Caller::Admin(uid) => (*uid, true),
        Caller::Participant(p) => (p.id, false),
    };
    let token = state.signer.sign_media(&MediaClaims {
        rid: recording.id,
        uid,
        adm,
        use_: match request.use_ {
            LinkUse::Play => "play".into(),
            LinkUse::Download => "download".into(),
        },
        nbf: now.timestamp(),
        exp: expires_at.timestamp(),
    });
    state.audit.record(
        Some(session.id),
        caller.actor(),
        "mediaLinkIssued",
        serde_json::json!({ "recordingId": recording.id, "use": request.use_ }),
    );
    let base = format!("{}/media/{token}", state.settings.public_url);
    Ok(Json(match request.use_ {
        LinkUse::Play => Link {
            url: format!("{base}/hls/index.m3u8"),
            thumbnail: Some(format!("{base}/thumbnail.jpg")),
            chapters: Some(format!("{base}/chapters.vtt")),
            expires_at,
        },
        LinkUse::Download => Link {
            url: format!("{base}/video.mp4"),
            thumbnail: None,
            chapters: None,
            expires_at,
        },
    }))
}

/// Only the produced files, by exact name: nothing a path trick could widen.
pub(crate) fn servable(file: &str, use_: &str) -> bool {
    let segment = file
        .strip_prefix("hls/segment")
        .and_then(|rest| rest.strip_suffix(".ts"))
        .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()));
    match use_ {
        "download" => file == "video.mp4",
        "play" => {
            segment
                || matches!(
                    file,
                    "video.mp4" | "thumbnail.jpg" | "chapters.vtt" | "hls/index.m3u8"
                )
        }
        _ => false,
    }
}

/// Serves a produced file to the holder of a valid link, re-checking their rights.
async fn serve_media(
    State(state): State<AppState>,
    Path((token, file)): Path<(String, String)>,
    request: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    let claims = state
        .signer
        .verify_media(&token, Utc::now())
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    if !servable(&file, &claims.use_) {
        return Err(ApiError::NotFound("file"));
    }
    let (recording, session) = produced_recording(&state, claims.rid).await?;
    let (admin, participant) = if claims.adm {
        (Some(claims.uid), None)
    } else {
        (None, Some(claims.uid))
    };
    let caller = may_watch(&state, admin, participant, &session).await?;
    // Every link's first fetch of the video or the playlist is on record, whatever
    // range it asks for (a suffix range can take the whole file).
    if matches!(file.as_str(), "video.mp4" | "hls/index.m3u8")
        && state.limits.first_media_use(&token, &file)
    {
        state.audit.record(
            Some(session.id),
            caller.actor(),
            "mediaServed",
            serde_json::json!({ "recordingId": recording.id, "file": file, "use": claims.use_ }),
        );
    }
    serve_produced(
        &state,
        &recording,
        &file,
        request,
        "private, no-store",
        (claims.use_ == "download").then_some("recording.mp4"),
    )
    .await
}

/// Serves one of a recording's produced files (ranges and content type by
/// `ServeFile`) with the given caching, as an attachment named `attachment` if given.
/// `file` must already have passed [`servable`].
pub(crate) async fn serve_produced(
    state: &AppState,
    recording: &RecordingRecord,
    file: &str,
    request: axum::extract::Request,
    cache: &'static str,
    attachment: Option<&'static str>,
) -> Result<axum::response::Response, ApiError> {
    let path = crate::production::produced_dir(
        &state.settings.data_dir,
        recording.session_id,
        recording.id,
    )
    .join(file);
    let mut response = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(name) = attachment {
        let value = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
            .map_err(|e| ApiError::Internal(e.into()))?;
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
