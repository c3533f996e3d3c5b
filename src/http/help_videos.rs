//! The help-video library: a trainer (or host, or an administrator) publishes a produced
//! training recording with a title, description, tags, crop/technique category and
//! envoy; anyone may then list, search, play (HLS) and download it, and a play counts
//! as a view of that video on that day, once per viewer. Defense recordings are
//! confidential and can never be published.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use scheduler::SessionKind;
use scheduler::record::HelpVideo;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::credentials::caller_ids;
use super::error::{ApiError, ApiJson, ApiQuery};
use super::recordings::{may_watch, produced_recording, servable, serve_produced};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/recordings/{id}/publish", post(publish))
        .route("/api/v1/help-videos", get(list))
        .route("/api/v1/help-videos/{id}", get(one))
        .route("/api/v1/help-videos/{id}/views", post(count_view))
        .route("/help/{id}/{*file}", get(serve))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Publication {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    category: String,
    envoy: String,
}

/// A publication's fields, trimmed and within their limits.
fn validate(p: Publication) -> Result<Publication, ApiError> {
    fn field(name: &'static str, value: &str, min: usize, max: usize) -> Result<String, ApiError> {
        let value = value.trim();
        let chars = value.chars().count();
        if chars < min || chars > max || value.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                name,
                format!("{min}–{max} characters, no control characters"),
            ));
        }
        Ok(value.to_owned())
    }
    if p.tags.len() > 20 {
        return Err(ApiError::invalid("tags", "at most 20 tags"));
    }
    let description = p.description.trim().to_owned();
    if description.chars().count() > 5000 {
        return Err(ApiError::invalid("description", "at most 5000 characters"));
    }
    Ok(Publication {
        title: field("title", &p.title, 1, 200)?,
        description,
        tags: p
            .tags
            .iter()
            .map(|t| field("tags", t, 1, 30))
            .collect::<Result<_, _>>()?,
        category: field("category", &p.category, 1, 50)?,
        envoy: field("envoy", &p.envoy, 1, 100)?,
    })
}

/// A help video as the public sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicVideo {
    #[serde(flatten)]
    video: HelpVideo,
    duration_ms: Option<u64>,
    thumbnail: String,
    hls: String,
    mp4: String,
    chapters: String,
}

async fn public(state: &AppState, video: HelpVideo) -> PublicVideo {
    let duration_ms = state
        .store
        .production_job_of(video.recording_id)
        .await
        .ok()
        .flatten()
        .and_then(|j| j.outputs)
        .and_then(|o| serde_json::from_str::<serde_json::Value>(&o).ok())
        .and_then(|o| o["durationMs"].as_u64());
    let base = format!("/help/{}", video.id);
    // Published by an administrator's id or a participant's id: neither is public.
    let video = HelpVideo {
        published_by: String::new(),
        ..video
    };
    PublicVideo {
        duration_ms,
        thumbnail: format!("{base}/thumbnail.jpg"),
        hls: format!("{base}/hls/index.m3u8"),
        mp4: format!("{base}/video.mp4"),
        chapters: format!("{base}/chapters.vtt"),
        video,
    }
}

/// Publishes a produced training recording.
async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(publication): ApiJson<Publication>,
) -> Result<(StatusCode, Json<PublicVideo>), ApiError> {
    let (admin, participant) = caller_ids(&state, &headers).await?;
    let id = Uuid::parse_str(&raw).map_err(|_| ApiError::NotFound("recording"))?;
    let (recording, session) = produced_recording(&state, id).await?;
    let caller = may_watch(&state, admin, participant, &session).await?;
    if session.kind != SessionKind::Training {
        return Err(ApiError::Forbidden(
            "defense recordings are confidential and are never published".into(),
        ));
    }
    let p = validate(publication)?;
    let video = HelpVideo {
        id: Uuid::new_v4(),
        recording_id: recording.id,
        title: p.title,
        description: p.description,
        tags: p.tags,
        category: p.category,
        envoy: p.envoy,
        published_by: match &caller {
            super::recordings::Caller::Admin(uid) => format!("admin:{uid}"),
            super::recordings::Caller::Participant(me) => format!("participant:{}", me.id),
        },
        published_at: Utc::now(),
        views: 0,
    };
    state
        .store
        .publish_help_video(&video)
        .await
        .map_err(|e| match e {
            scheduler::StoreError::Conflict(_) => {
                ApiError::Conflict("this recording is already published".into())
            }
            other => other.into(),
        })?;
    state.audit.record(
        Some(session.id),
        caller.actor(),
        "helpVideoPublished",
        serde_json::json!({ "recordingId": recording.id, "helpVideoId": video.id }),
    );
    Ok((StatusCode::CREATED, Json(public(&state, video).await)))
}

#[derive(Debug, Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
    category: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    ApiQuery(search): ApiQuery<Search>,
) -> Result<Json<Vec<PublicVideo>>, ApiError> {
    state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)?;
    if search.q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "at most 100 characters"));
    }
    let category = search.category.as_deref().filter(|c| !c.is_empty());
    let mut out = Vec::new();
    for video in state.store.help_videos(search.q.trim(), category).await? {
        out.push(public(&state, video).await);
    }
    Ok(Json(out))
}

async fn published(state: &AppState, raw: &str) -> Result<HelpVideo, ApiError> {
    let id = Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("help video"))?;
    state
        .store
        .help_video(id)
        .await?
        .ok_or(ApiError::NotFound("help video"))
}

async fn one(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    Path(raw): Path<String>,
) -> Result<Json<PublicVideo>, ApiError> {
    state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)?;
    let video = published(&state, &raw).await?;
    Ok(Json(public(&state, video).await))
}

/// A player's report that it started playing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewReport {
    /// An opaque id the player keeps (the web client: in local storage).
    viewer: Uuid,
}

/// Whether a view report counted, and the video's views after it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ViewCounted {
    counted: bool,
    views: i64,
}

/// A view, counted on today's date (UTC) when a player starts playing: once per viewer,
/// video and day, so reloading or replaying does not inflate the yearly indicator.
async fn count_view(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    Path(raw): Path<String>,
    ApiJson(report): ApiJson<ViewReport>,
) -> Result<Json<ViewCounted>, ApiError> {
    // Each one is a database write anyone can make: budgeted per client.
    state
        .limits
        .charge(crate::budget::HttpClass::AnonymousWrite, client)?;
    let video = published(&state, &raw).await?;
    let counted = state
        .store
        .count_help_video_view(video.id, Utc::now().date_naive(), report.viewer)
        .await?;
    let views = state
        .store
        .help_video(video.id)
        .await?
        .map_or(video.views, |v| v.views);
    Ok(Json(ViewCounted { counted, views }))
}

#[derive(Debug, Deserialize)]
struct Download {
    #[serde(default)]
    download: Option<String>,
}

/// A published video's files (public by publication; exact names only).
async fn serve(
    State(state): State<AppState>,
    Path((raw, file)): Path<(String, String)>,
    ApiQuery(download): ApiQuery<Download>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    if !servable(&file, "play") {
        return Err(ApiError::NotFound("file"));
    }
    let video = published(&state, &raw).await?;
    let recording = state
        .store
        .recording(video.recording_id)
        .await?
        .ok_or(ApiError::NotFound("help video"))?;
    let attachment =
        (file == "video.mp4" && download.download.is_some()).then_some("help-video.mp4");
    serve_produced(
        &state,
        &recording,
        &file,
        request,
        "public, max-age=3600",
        attachment,
    )
    .await
}
