//! `GET /healthz`: liveness plus what the deployment can do; the operators' listener
//! has the detailed form (versions, addresses, participants).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/openapi.json", get(openapi))
}

/// For anyone: whether the server can serve, and nothing an attacker could use (no
/// versions, no addresses, no head counts).
async fn healthz(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
) -> Result<(StatusCode, Json<serde_json::Value>), super::error::ApiError> {
    // Each check asks the database and the media thread: budgeted per client.
    state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)?;
    let h = check(&state).await;
    Ok((
        status_code(&h),
        Json(json!({
            "status": h["status"],
            "database": h["database"],
            "media": { "running": h["media"]["running"] },
            "recorder": { "canRecord": h["recorder"]["canRecord"] },
        })),
    ))
}

/// Everything, for the operators' listener (`[admin] listen`, next to `/metrics`).
pub async fn detailed(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let h = check(&state).await;
    (status_code(&h), Json(h))
}

/// A degraded server answers 503, so load balancers and supervisors see it.
fn status_code(h: &serde_json::Value) -> StatusCode {
    if h["status"] == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// How long the check waits for the database or the media thread: a stuck one must
/// not hang the check that is meant to find it stuck.
const CHECK_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

async fn check(state: &AppState) -> serde_json::Value {
    let database_ok = tokio::time::timeout(CHECK_WITHIN, state.store.administrator_count())
        .await
        .is_ok_and(|r| r.is_ok());
    let silent = state.sfu.loop_silent_for();
    let media = if crate::supervision::alive(silent) {
        tokio::time::timeout(CHECK_WITHIN, state.sfu.stats())
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    json!({
        "status": if database_ok && media.is_some() { "ok" } else { "degraded" },
        "database": database_ok,
        "media": {
            "udp": state.sfu.media_addr().to_string(),
            "running": media.is_some(),
            "loopSilentMs": silent.as_millis() as u64,
            "participants": media.map(|m| m.participants),
        },
        "recorder": {
            "gstreamer": state.recorder.as_ref().as_ref().map(|r| r.gstreamer_version.clone()).ok(),
            "canRecord": state.recorder.as_ref().as_ref().map(|r| r.can_record()).unwrap_or(false),
        },
        "version": env!("CARGO_PKG_VERSION"),
    })
}

/// The API's OpenAPI 3.1 document (`docs/openapi.json`, compiled in).
const OPENAPI: &str = include_str!("../../docs/openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}
