//! `GET /healthz`: liveness plus what the deployment can do; the operators' listener
//! has the detailed form (versions, addresses, participants).

use axum::extract::State;
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
) -> Result<Json<serde_json::Value>, super::error::ApiError> {
    // Each check asks the database and the media thread: budgeted per client.
    state
        .limits
        .charge(crate::budget::HttpClass::PublicRead, client)?;
    let h = check(&state).await;
    Ok(Json(json!({
        "status": h["status"],
        "database": h["database"],
        "media": { "running": h["media"]["running"] },
        "recorder": { "canRecord": h["recorder"]["canRecord"] },
    })))
}

/// Everything, for the operators' listener (`[admin] listen`, next to `/metrics`).
pub async fn detailed(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(check(&state).await)
}

async fn check(state: &AppState) -> serde_json::Value {
    let database_ok = state.store.administrator_count().await.is_ok();
    let media = state.sfu.stats().await;
    json!({
        "status": if database_ok && media.is_some() { "ok" } else { "degraded" },
        "database": database_ok,
        "media": {
            "udp": state.sfu.media_addr().to_string(),
            "running": media.is_some(),
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
