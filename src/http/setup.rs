//! The set-up check, reachable from every invitation and from the join page: days
//! before a session a participant tests camera, microphone, speakers and the path
//! their network allows to the SFU (`signaling::check`).
//!
//! - `GET /j/{token}/check`: the page (the link opens days before the session, until
//!   its end; a revoked link or a cancelled session gets the join page's explanation).
//! - `POST /j/{token}/check`: the page's figures; stored per participant (time,
//!   browser, path, figures, verdict; no media), judged (`crate::setup_check`), and
//!   shown to the secretary beside the participant.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::error::{ApiError, ApiJson};
use super::limits::ClientAddr;
use crate::budget::HttpClass;
use crate::setup_check::{Advice, CheckReport, Reachable, Verdict, judge};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/j/{token}/check", get(page).post(result))
}

async fn page(
    State(state): State<AppState>,
    client: ClientAddr,
    Path(token): Path<String>,
) -> Response {
    if let Err(e) = state.limits.charge(HttpClass::PublicRead, client) {
        return ApiError::from(e).into_response();
    }
    match crate::access::admit_for_check(&state, &token, Utc::now()).await {
        Ok(_) => super::pages::serve_page(state.settings.web_dir.clone(), "check.html").await,
        Err(e) => {
            let (zh, en) = super::pages::explain(&e);
            (
                StatusCode::UNAUTHORIZED,
                [(header::CACHE_CONTROL, "no-store")],
                Html(super::pages::error_html(e.code(), &zh, &en)),
            )
                .into_response()
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Judged {
    verdict: Verdict,
    advice: Vec<Advice>,
}

async fn result(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
    ApiJson(report): ApiJson<CheckReport>,
) -> Result<Json<Judged>, ApiError> {
    state.limits.charge(HttpClass::AnonymousWrite, client)?;
    let admitted = crate::access::admit_for_check(&state, &token, Utc::now()).await?;
    let path = report
        .path
        .clone()
        .filter(|p| matches!(p.as_str(), "udp" | "tcp" | "relay"));
    let report = CheckReport { path, ..report };
    let (verdict, advice) = judge(&report, &reachable(&state));
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
    state
        .store
        .record_setup_check(&scheduler::record::SetupCheck {
            id: Uuid::new_v4(),
            session_id: admitted.session.id,
            participant_id: admitted.participant.id,
            at: Utc::now(),
            user_agent,
            path: report.path.clone(),
            rtt_ms: finite(report.rtt_ms),
            loss_percent: finite(report.loss_percent),
            kbps: finite(report.kbps),
            camera: report.camera,
            microphone: report.microphone,
            verdict: verdict.as_str().to_owned(),
        })
        .await?;
    state.audit.record(
        Some(admitted.session.id),
        crate::audit::Actor::Participant(admitted.participant.id),
        "setupCheck",
        serde_json::json!({ "verdict": verdict.as_str(), "path": report.path }),
    );
    Ok(Json(Judged { verdict, advice }))
}

/// Where participants reach the media plane, for the advice.
fn reachable(state: &AppState) -> Reachable {
    let media = state.sfu.media_addr();
    Reachable {
        host: media.ip().to_string(),
        udp_port: media.port(),
        tcp_port: state.sfu.tcp_addr().map(|a| a.port()),
        relays: state.settings.turn.urls.clone(),
    }
}
