//! The booking world beyond a single session: organisations, people, programmes,
//! projects, declared conflicts of interest, panels and virtual rooms, and the typed
//! reasons a booking is refused.

use serde::Serialize;
use uuid::Uuid;

use crate::domain::{DomainError, PersonName, Role};

/// An organisation (university, institute, company) people and projects belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organisation {
    pub id: Uuid,
    /// Name, unique.
    pub name: String,
}

/// A person to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// Display name.
    pub name: PersonName,
    /// E-mail, unique when given.
    pub email: Option<String>,
    /// Their organisation.
    pub organisation: Option<Uuid>,
    /// What they may be booked as.
    pub roles: Vec<Role>,
    /// Expertise fields (experts).
    pub fields: Vec<String>,
    /// Their IANA time zone (invitations and pages show times in it).
    pub time_zone: chrono_tz::Tz,
}

/// A stored person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// E-mail.
    pub email: Option<String>,
    pub organisation_id: Option<Uuid>,
    pub roles: Vec<Role>,
    /// Expertise fields.
    pub fields: Vec<String>,
    /// IANA time zone.
    pub time_zone: String,
}

/// A funding programme; it sets the allowed panel size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Programme {
    pub id: Uuid,
    /// Name, unique.
    pub name: String,
    /// Fewest experts on a panel.
    pub min_panel_size: i64,
    /// Most experts on a panel.
    pub max_panel_size: i64,
}

/// A project to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProject {
    /// Application code, unique (e.g. `2026-NY-0012`).
    pub code: String,
    pub title: String,
    pub programme: Uuid,
    /// The applicant (a person).
    pub applicant: Uuid,
    /// The applying organisation.
    pub organisation: Uuid,
    /// Field, matched against experts' fields.
    pub field: String,
}

/// A stored project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub programme_id: Uuid,
    pub applicant_id: Uuid,
    pub organisation_id: Uuid,
    pub field: String,
}

/// What a declared conflict of interest covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictTarget {
    /// One project.
    Project(Uuid),
    /// Every project of an organisation.
    Organisation(Uuid),
}

/// A project code: 1–64 characters of letters, digits, `-`, `_`, `/` and `.`.
pub fn parse_project_code(raw: &str) -> Result<String, DomainError> {
    let code = raw.trim();
    let ok = !code.is_empty()
        && code.chars().count() <= 64
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if ok {
        Ok(code.to_owned())
    } else {
        Err(DomainError::Invalid {
            field: "code",
            reason: format!("project code {code:?} must be 1–64 letters, digits or - _ / ."),
        })
    }
}

/// Why the database refused a booking. Each names the conflict for the person booking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingConflict {
    /// A person or room is already held by an overlapping session (buffers included).
    #[error("{resource} is already booked from {from} to {until} by \"{other_title}\"")]
    DoubleBooked {
        /// Who or what (a name).
        resource: String,
        /// The session holding it.
        other_session: Uuid,
        /// Its title.
        other_title: String,
        /// Start of the other claim (RFC 3339, UTC).
        from: String,
        /// End of the other claim including its buffer (RFC 3339, UTC).
        until: String,
    },
    /// An expert may not judge this project.
    #[error(
        "{expert} has a conflict of interest with project {project} (same organisation or declared)"
    )]
    ConflictOfInterest {
        /// The expert's name.
        expert: String,
        /// The project code.
        project: String,
    },
    /// The panel is too small or too large for the programme.
    #[error("the panel has {experts} experts; programme \"{programme}\" needs {min} to {max}")]
    PanelSize {
        /// Experts in the booking.
        experts: usize,
        /// The programme.
        programme: String,
        /// Its minimum.
        min: i64,
        /// Its maximum.
        max: i64,
    },
}

impl BookingConflict {
    /// Stable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            BookingConflict::DoubleBooked { .. } => "double_booked",
            BookingConflict::ConflictOfInterest { .. } => "conflict_of_interest",
            BookingConflict::PanelSize { .. } => "panel_size",
        }
    }
}

/// The resource key a participant or room claims while booked.
pub fn person_resource(id: Uuid) -> String {
    format!("person:{id}")
}

/// The resource key of a room.
pub fn room_resource(id: Uuid) -> String {
    format!("room:{id}")
}

/// Roles whose holders may not be in two overlapping sessions.
pub fn role_claims_time(role: Role) -> bool {
    matches!(role, Role::Expert | Role::Applicant | Role::Trainer)
}

/// What a notification tells its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// First invitation.
    Invite,
    /// The booking changed.
    Update,
    /// The booking was cancelled.
    Cancel,
}

impl NotificationKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Invite => "invite",
            NotificationKind::Update => "update",
            NotificationKind::Cancel => "cancel",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invite" => Some(NotificationKind::Invite),
            "update" => Some(NotificationKind::Update),
            "cancel" => Some(NotificationKind::Cancel),
            _ => None,
        }
    }
}

/// A notification sent or logged to one participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// The recipient.
    pub participant_id: Uuid,
    /// Invite, update or cancel.
    pub kind: NotificationKind,
    /// The booking's SEQUENCE at the time.
    pub sequence: i64,
    /// `email` when sent by SMTP, `log` when only logged.
    pub channel: String,
    /// The calendar object.
    pub ics: String,
}

/// An expert panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: Uuid,
    /// Name, unique.
    pub name: String,
    /// The chair (one of the members).
    pub chair_id: Option<Uuid>,
    /// Member experts.
    pub members: Vec<Uuid>,
}

/// A virtual room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    pub id: Uuid,
    /// Name, unique.
    pub name: String,
}

/// A window in a person's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// They cannot attend.
    Unavailable,
    /// They would prefer this time (applicants).
    Preferred,
}

impl WindowKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Unavailable => "unavailable",
            WindowKind::Preferred => "preferred",
        }
    }
}

/// One availability window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityWindow {
    /// Whose.
    pub person_id: Uuid,
    /// Unavailable or preferred.
    pub kind: WindowKind,
    /// Start, UTC.
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// End, UTC (exclusive).
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

/// A planned defense day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefenseDay {
    pub id: Uuid,
    /// The local date, `YYYY-MM-DD`.
    pub date: chrono::NaiveDate,
    /// IANA time zone of the day.
    pub time_zone: String,
    /// Local start of the first slot, `HH:MM`.
    pub day_start: String,
    /// Slots per panel.
    pub slots: i64,
    /// The defenses' phases.
    pub agenda: crate::domain::Agenda,
    /// Minutes between defenses.
    pub buffer_minutes: i64,
}
