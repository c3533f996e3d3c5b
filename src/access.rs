//! What a join link lets its holder do, decided in one place: the signature and the
//! validity window of the grant, then what has happened since it was issued (the
//! participant taken off the booking, their links revoked, the session cancelled).
//! Signaling, the join page, the personal invitation, WHIP token issuance and
//! recording links all admit through [`admit`], so none of them can forget a check.

use chrono::{DateTime, Utc};
use scheduler::{Participant, Session, StoreError};

use crate::auth::{JoinGrant, TokenError};
use crate::state::AppState;

/// Why a join link does not let its holder in.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Forged, malformed, not yet valid or expired.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The participant is not (or no longer) on the booking, or this link was revoked.
    #[error("this invitation no longer exists")]
    Revoked,
    /// The session was cancelled.
    #[error("this session was cancelled")]
    Cancelled,
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl AccessError {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::Token(e) => e.code(),
            AccessError::Revoked => "revoked",
            AccessError::Cancelled => "cancelled",
            AccessError::Store(_) => "internal",
        }
    }
}

/// A link that lets its holder in: the grant, the participant it names, their session.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The verified grant.
    pub grant: JoinGrant,
    /// The participant, as booked now.
    pub participant: Participant,
    /// Their session, as booked now.
    pub session: Session,
}

/// Admits the holder of `token` to their set-up check at `now`: like [`admit`], but
/// days before the session too (the check is for then), never after its end.
pub async fn admit_for_check(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Admitted, AccessError> {
    let grant = state
        .signer
        .authentic_join(token)
        .ok_or(AccessError::Token(TokenError::BadSignature))?;
    let ended = DateTime::from_timestamp(grant.exp, 0).unwrap_or(now);
    if now > ended {
        return Err(AccessError::Token(TokenError::Expired(ended)));
    }
    let participant = match state.store.participant(grant.pid).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(AccessError::Revoked),
        Err(e) => return Err(AccessError::Store(e)),
    };
    if participant.session_id != grant.sid
        || participant.removed
        || participant.link_generation != grant.generation
    {
        return Err(AccessError::Revoked);
    }
    let session = match state.store.session(grant.sid).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(AccessError::Revoked),
        Err(e) => return Err(AccessError::Store(e)),
    };
    if session.cancelled {
        return Err(AccessError::Cancelled);
    }
    Ok(Admitted {
        grant,
        participant,
        session,
    })
}

/// Admits the holder of `token` at `now`, or says why not.
pub async fn admit(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Admitted, AccessError> {
    let grant = state.signer.verify_join(token, now)?;
    let participant = match state.store.participant(grant.pid).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(AccessError::Revoked),
        Err(e) => return Err(AccessError::Store(e)),
    };
    if participant.session_id != grant.sid
        || participant.removed
        || participant.link_generation != grant.generation
    {
        return Err(AccessError::Revoked);
    }
    let session = match state.store.session(grant.sid).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => return Err(AccessError::Revoked),
        Err(e) => return Err(AccessError::Store(e)),
    };
    if session.cancelled {
        return Err(AccessError::Cancelled);
    }
    Ok(Admitted {
        grant,
        participant,
        session,
    })
}
