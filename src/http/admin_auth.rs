//! Administrator sign-in (`POST /api/v1/auth/login`) and the [`Admin`] extractor that
//! every administrator-only handler takes.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{ApiError, ApiJson};
use super::limits::ClientAddr;
use crate::auth::{AdminClaims, password};
use crate::state::AppState;
use crate::telemetry::Pii;

/// Routes of this area.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/auth/login", post(login))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginResponse {
    token: String,
    expires_at: chrono::DateTime<Utc>,
}

async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let refused = || ApiError::Unauthorized {
        code: "bad_credentials",
        message: "wrong user name or password".into(),
    };
    if body.username.len() > 200 || body.password.len() > 1024 {
        return Err(refused());
    }
    // Checked before the password: a guesser over budget learns nothing more.
    state.limits.sign_in_allowed(client, &body.username)?;
    let user = match state.store.user_by_username(&body.username).await {
        Ok(user) => Some(user),
        Err(scheduler::StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // Unknown names are checked against a dummy hash so that response time does not
    // reveal which names exist.
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::DUMMY_HASH.clone());
    let candidate = body.password;
    let slot = state.limits.password_check().await?;
    let ok = tokio::task::spawn_blocking(move || password::verify(&candidate, &stored))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    drop(slot);
    let Some(user) = user.filter(|_| ok) else {
        state.limits.sign_in_failed(client, &body.username);
        tracing::warn!(user = %Pii(&body.username), "sign-in refused");
        return Err(refused());
    };
    state.limits.sign_in_succeeded(client, &body.username);
    let now = Utc::now();
    let expires_at = now + Duration::hours(state.settings.admin_session_hours);
    let token = state.signer.sign_admin(&AdminClaims {
        uid: user.id,
        nbf: now.timestamp(),
        exp: expires_at.timestamp(),
    });
    tracing::info!(user = %Pii(&user.username), "administrator signed in");
    Ok(Json(LoginResponse { token, expires_at }))
}

/// A request made by a signed-in administrator.
#[derive(Debug, Clone, Copy)]
pub struct Admin {
    /// The account.
    pub user_id: Uuid,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = super::credentials::bearer(&parts.headers)?;
        let claims = state
            .signer
            .verify_admin(token, Utc::now())
            .map_err(|e| ApiError::from_token(&e))?;
        Ok(Admin {
            user_id: claims.uid,
        })
    }
}
