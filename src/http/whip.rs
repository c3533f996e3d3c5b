//! WHIP ingest (RFC 9725): a trainer publishes into their training session from OBS
//! Studio or any WHIP client, so technique videos can be made with a proper camera.
//!
//! - `POST /api/v1/sessions/{id}/whip-token` (an administrator, or the session's
//!   trainer or host with their join link's token) issues the session's bearer token
//!   and endpoint.
//! - `POST /whip/{session}` with `Content-Type: application/sdp` and the bearer token
//!   takes the client's offer and answers `201 Created` with the SFU's answer and a
//!   `Location` for the session resource. Candidates are in the answer (the SFU is
//!   ICE-lite on one UDP port), so trickle ICE is not offered: `PATCH` gets 405.
//! - `DELETE` on the resource ends the feed.
//! - An encoder may send simulcast layers (taken like a browser's), unless the
//!   server has `[media] simulcast = false`: then the offer is refused with 422.
//!
//! The feed joins the room as the trainer's studio camera (media label `whip-<id>`):
//! the room's rules apply to it as to the trainer, the recorder records it, and it
//! never subscribes to anything.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use chrono::Utc;
use media::sfu::SourcePolicy;
use media::{JoinRequest, MediaGrant, PeerEvent};
use scheduler::{Role, SessionKind};
use serde::Serialize;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::credentials::{bearer, caller_ids};
use super::error::ApiError;
use crate::auth::token::WhipClaims;
use crate::ingest::{MAX_FEEDS_PER_SESSION, parse_offer};
use crate::state::AppState;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/sessions/{id}/whip-token", post(issue_token))
        .route("/whip/{session}", post(ingest))
        .route("/whip/{session}/{resource}", delete(end))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued {
    endpoint: String,
    token: String,
    expires_at: chrono::DateTime<Utc>,
}

/// Issues a training session's WHIP token, valid until two hours after its end.
async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<Json<Issued>, ApiError> {
    let (admin, participant) = caller_ids(&state, &headers).await?;
    let session = super::sessions::load_session(&state, super::sessions::parse_id(&raw)?).await?;
    if session.cancelled {
        return Err(ApiError::Forbidden("the session was cancelled".into()));
    }
    if session.kind != SessionKind::Training {
        return Err(ApiError::Forbidden(
            "WHIP ingest is for training sessions".into(),
        ));
    }
    let people = state.store.participants(session.id).await?;
    let publisher = match (admin, participant) {
        (Some(_), _) => people.iter().find(|p| p.role == Role::Trainer),
        (None, Some(pid)) => people
            .iter()
            .find(|p| p.id == pid && matches!(p.role, Role::Trainer | Role::Host)),
        (None, None) => None,
    }
    .ok_or_else(|| {
        ApiError::Forbidden("only the trainer, a host or an administrator may".into())
    })?;
    let now = Utc::now();
    // Valid for the session (its buffer included) and no longer: a token that leaks
    // after the training opens nothing.
    let end = session.starts_at
        + chrono::Duration::minutes(session.duration_minutes + session.buffer_minutes);
    if end <= now {
        return Err(ApiError::Forbidden("the session is over".into()));
    }
    let expires_at = end;
    let token = state.signer.sign_whip(&WhipClaims {
        sid: session.id,
        pid: publisher.id,
        nbf: now.timestamp(),
        exp: expires_at.timestamp(),
    });
    state.audit.record(
        Some(session.id),
        match admin {
            Some(uid) => crate::audit::Actor::Admin(uid.to_string()),
            None => crate::audit::Actor::Participant(publisher.id),
        },
        "whipTokenIssued",
        serde_json::json!({ "publisher": publisher.id }),
    );
    Ok(Json(Issued {
        endpoint: format!("{}/whip/{}", state.settings.public_url, session.id),
        token,
        expires_at,
    }))
}

fn whip_claims(
    state: &AppState,
    headers: &HeaderMap,
    session: Uuid,
) -> Result<WhipClaims, ApiError> {
    let claims = state
        .signer
        .verify_whip(bearer(headers)?, Utc::now())
        .map_err(|e| ApiError::from_token(&e))?;
    if claims.sid != session {
        return Err(ApiError::Forbidden(
            "this token is for another session".into(),
        ));
    }
    Ok(claims)
}

/// Takes a WHIP client's offer.
async fn ingest(
    State(state): State<AppState>,
    client: super::limits::ClientAddr,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session_id = Uuid::parse_str(&raw).map_err(|_| ApiError::NotFound("session"))?;
    let claims = whip_claims(&state, &headers, session_id)?;
    // Charged once the token is checked (that is cheap); what follows is not.
    state
        .limits
        .charge(crate::budget::HttpClass::Ingest, client)?;
    let Some(reservation) = state.ingests.reserve(session_id) else {
        return Err(ApiError::Conflict(format!(
            "this session already has {MAX_FEEDS_PER_SESSION} live feeds; end one first (DELETE its resource)"
        )));
    };
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !is_sdp {
        return Ok((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a WHIP offer is sent as application/sdp",
        )
            .into_response());
    }
    let offer = parse_offer(&body).map_err(|e| ApiError::MalformedBody(e.0))?;
    // Simulcast layers are taken like a browser's (each trainee gets the layer its
    // tile and its link carry), unless the server has simulcast turned off: then the
    // encoder is told the remedy rather than given a feed it cannot forward as meant.
    if !state.sfu.takes_simulcast() && offer.lines().any(|line| line.starts_with("a=simulcast:")) {
        return Err(ApiError::Unsupported(
            "simulcast is turned off on this server: turn it off in the encoder too (send one video encoding)".into(),
        ));
    }
    let session = super::sessions::load_session(&state, session_id).await?;
    let publisher = state.store.participant(claims.pid).await?;
    let room = state.days.room_of(session.id);
    let closed = state.rooms.with(room, |r| r.is_closed()).unwrap_or(false);
    if session.cancelled || closed || publisher.session_id != session.id {
        return Err(ApiError::Forbidden(
            "the session is not open for ingest".into(),
        ));
    }
    let sources = state
        .rooms
        .with(room, |r| r.sources(publisher.id))
        .unwrap_or(SourcePolicy {
            microphone: true,
            camera: true,
            screen: true,
        });
    let mut peer = state.sfu.ingest(
        JoinRequest {
            room: room.to_string(),
            label: format!("whip-{}", publisher.id),
            grant: MediaGrant {
                publish: true,
                subscribe: false,
                echo: false,
            },
            sources,
        },
        offer,
    );
    let answer = match tokio::time::timeout(Duration::from_secs(5), peer.next_event()).await {
        Ok(Some(PeerEvent::Answer { sdp })) => sdp,
        Ok(Some(PeerEvent::Closed { reason })) => {
            return Err(ApiError::MalformedBody(format!(
                "the offer was refused: {reason}"
            )));
        }
        _ => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the media plane did not answer the WHIP offer"
            )));
        }
    };
    let (stop, stopped) = oneshot::channel();
    let resource = reservation.go_live(stop);
    let ingests = state.ingests.clone();
    tokio::spawn(async move {
        let mut stopped = stopped;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                event = peer.next_event() => match event {
                    Some(PeerEvent::Closed { .. }) | None => break,
                    Some(_) => {}
                },
            }
        }
        ingests.ended(resource);
        // Dropping the handle takes the feed out of the room.
        drop(peer);
    });
    state.audit.record(
        Some(session.id),
        crate::audit::Actor::Participant(publisher.id),
        "whipStarted",
        serde_json::json!({ "resource": resource }),
    );
    let location = format!("/whip/{}/{resource}", session.id);
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    headers.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| ApiError::Internal(e.into()))?,
    );
    // The relay an encoder behind a strict firewall may use (RFC 9725 §4.6), with
    // credentials that end with its token.
    let until = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now);
    if let Some(relay) =
        crate::turn::ice_servers(&state.settings.turn, publisher.id, until, Utc::now())
    {
        for link in crate::turn::link_headers(&relay) {
            headers.append(
                header::LINK,
                HeaderValue::from_str(&link).map_err(|e| ApiError::Internal(e.into()))?,
            );
        }
    }
    Ok(response)
}

/// Ends a WHIP feed.
async fn end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((raw, resource)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let session = Uuid::parse_str(&raw).map_err(|_| ApiError::NotFound("session"))?;
    let claims = whip_claims(&state, &headers, session)?;
    let resource = Uuid::parse_str(&resource).map_err(|_| ApiError::NotFound("resource"))?;
    if !state.ingests.end(session, resource) {
        return Err(ApiError::NotFound("resource"));
    }
    state.audit.record(
        Some(session),
        crate::audit::Actor::Participant(claims.pid),
        "whipStopped",
        serde_json::json!({ "resource": resource }),
    );
    Ok(StatusCode::OK)
}
