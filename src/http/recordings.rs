//! Recordings as administrators see them: a session's recordings with their parts and
//! post-production state. Media themselves are served only through signed links.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use scheduler::record::{ProductionJob, RecordingPart, RecordingRecord};
use serde::{Deserialize, Serialize};

use super::admin_auth::Admin;
use super::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions/{id}/recordings", get(of_session))
        .route("/api/v1/sessions/{id}/recording-policy", put(set_policy))
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
