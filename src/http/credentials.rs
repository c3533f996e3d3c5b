//! Credentials in HTTP requests: the bearer token of `Authorization`, and whom it
//! names (an administrator's sign-in, or a participant's join link).

use axum::http::{HeaderMap, header};
use chrono::Utc;
use uuid::Uuid;

use super::error::ApiError;
use crate::state::AppState;

/// The bearer token of a request (`Authorization: Bearer …`), trimmed.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::missing_credentials)
}

/// The administrator or participant a bearer token names: (admin, participant).
pub async fn caller_ids(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Option<Uuid>, Option<Uuid>), ApiError> {
    let token = bearer(headers)?;
    let now = Utc::now();
    match state.signer.verify_admin(token, now) {
        Ok(claims) => Ok((Some(claims.uid), None)),
        Err(_) => Ok((
            None,
            Some(
                crate::access::admit(state, token, now)
                    .await?
                    .participant
                    .id,
            ),
        )),
    }
}
