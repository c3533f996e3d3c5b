//! Join links: each participant's personal, signed link into their session, valid
//! from shortly before its start (configured) until its end. Issued for the admin
//! API, invitations and renewals alike.

use chrono::{DateTime, Duration, Utc};
use scheduler::{Participant, Role, Session};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::JoinGrant;
use crate::state::AppState;

/// A personal join link.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinLink {
    /// Whose link.
    pub participant_id: Uuid,
    /// Their name as booked.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// The link itself (a secret: whoever has it joins as them).
    pub url: String,
    /// Opens.
    pub valid_from: DateTime<Utc>,
    /// Ends.
    pub valid_until: DateTime<Utc>,
    /// The participant's latest set-up check, for the secretary (`http::setup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_check: Option<SetupCheckSummary>,
}

/// A set-up check as the secretary sees it beside a participant.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupCheckSummary {
    /// When.
    pub at: DateTime<Utc>,
    /// Its verdict.
    pub verdict: String,
    /// The path media took (udp, tcp, relay).
    pub path: Option<String>,
    /// Round trip.
    pub rtt_ms: Option<f64>,
    pub loss_percent: Option<f64>,
    /// Throughput.
    pub kbps: Option<f64>,
    /// A camera worked.
    pub camera: bool,
    /// A microphone worked.
    pub microphone: bool,
}

/// Issues a participant's join link: valid from shortly before the start (configured)
/// until the session's end.
pub fn issue_join_link(state: &AppState, session: &Session, participant: &Participant) -> JoinLink {
    let valid_from =
        session.starts_at - Duration::minutes(state.settings.join_opens_minutes_before);
    let valid_until = session.ends_at();
    let token = state.signer.sign_join(&JoinGrant {
        sid: session.id,
        pid: participant.id,
        role: participant.role,
        may_publish: participant.role.may_publish(),
        may_subscribe: participant.role.may_subscribe(),
        nbf: valid_from.timestamp(),
        exp: valid_until.timestamp(),
        generation: participant.link_generation,
    });
    JoinLink {
        participant_id: participant.id,
        name: participant.name.clone(),
        role: participant.role,
        url: format!(
            "{}/j/{token}",
            state.settings.public_url.trim_end_matches('/')
        ),
        valid_from,
        valid_until,
        setup_check: None,
    }
}
