//! Booking domain types. Every value that comes from outside (API bodies, CSV rows) is
//! parsed here into a type that can only hold valid data; the rest of Viva takes these
//! types and never re-validates.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw value was refused. The message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field's value breaks a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field (API name).
        field: &'static str,
        /// What is wrong, for the person who sent it.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A participant's role in a session. It decides what they may publish and see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The secretary who runs the session.
    Host,
    /// The person defending a project.
    Applicant,
    /// A panel member.
    Expert,
    /// Watches silently; publishes nothing.
    Observer,
    /// Presents a training session.
    Trainer,
    /// Watches a training session.
    Trainee,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 6] = [
        Role::Host,
        Role::Applicant,
        Role::Expert,
        Role::Observer,
        Role::Trainer,
        Role::Trainee,
    ];

    /// The role's stable wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::Applicant => "applicant",
            Role::Expert => "expert",
            Role::Observer => "observer",
            Role::Trainer => "trainer",
            Role::Trainee => "trainee",
        }
    }

    /// Whether a participant in this role may send audio/video by default.
    pub fn may_publish(self) -> bool {
        !matches!(self, Role::Observer | Role::Trainee)
    }

    /// Whether a participant in this role receives others' media by default.
    pub fn may_subscribe(self) -> bool {
        true
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                invalid(
                    "role",
                    format!(
                        "unknown role {s:?}; expected one of host, applicant, expert, observer, trainer, trainee"
                    ),
                )
            })
    }
}

/// Defense or training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// A project defense before an expert panel.
    #[default]
    Defense,
    /// An envoy training session.
    Training,
}

impl SessionKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Defense => "defense",
            SessionKind::Training => "training",
        }
    }
}

impl FromStr for SessionKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "defense" => Ok(SessionKind::Defense),
            "training" => Ok(SessionKind::Training),
            other => Err(invalid(
                "kind",
                format!("unknown session kind {other:?}; expected defense or training"),
            )),
        }
    }
}

fn parse_text(field: &'static str, raw: &str, max_chars: usize) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// A session title: 1–200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Title(String);

impl Title {
    /// Parses a raw title (surrounding white space is trimmed).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_text("title", raw, 200).map(Self)
    }
    /// The title text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name: 1–100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a raw name (surrounding white space is trimmed).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse_text("name", raw, 100).map(Self)
    }
    /// The name text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses an IANA time zone name; an empty value means the institute's default,
/// Asia/Shanghai.
pub fn parse_time_zone(raw: Option<&str>) -> Result<Tz, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(chrono_tz::Asia::Shanghai),
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| invalid("timeZone", format!("unknown IANA time zone {name:?}"))),
    }
}

/// Parses an e-mail address (trimmed, lower-cased): one `@`, a dotted domain, no
/// white space. Every entry point (API, CSV import) uses this one rule.
pub fn parse_email(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let email = raw.trim().to_lowercase();
    let mut parts = email.split('@');
    let ok = matches!((parts.next(), parts.next(), parts.next()), (Some(local), Some(domain), None)
        if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(invalid(
            field,
            format!("\"{}\" is not an e-mail address", raw.trim()),
        ))
    }
}

/// Parses an RFC 3339 time with offset into UTC.
pub fn parse_utc_time(field: &'static str, raw: &str) -> Result<DateTime<Utc>, DomainError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(
                field,
                "must be an RFC 3339 time with offset, e.g. 2026-12-01T09:00:00+08:00",
            )
        })
}

/// A participant to invite, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParticipant {
    /// Display name.
    pub name: PersonName,
    /// Role in the session.
    pub role: Role,
    /// The registered person, when known. Experts, applicants and trainers with a
    /// person are held exclusively for the session's time (see `model::role_claims_time`).
    pub person: Option<Uuid>,
}

/// The phases of a defense, in minutes. Their sum is the session's length; the buffer
/// after it is booked separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agenda {
    /// The applicant presents.
    pub presentation_minutes: i64,
    /// The panel asks questions.
    pub qa_minutes: i64,
    /// The panel deliberates without the applicant.
    pub deliberation_minutes: i64,
}

impl Agenda {
    /// Checks each phase (0–240 minutes, a presentation of at least 1).
    pub fn parse(presentation: i64, qa: i64, deliberation: i64) -> Result<Self, DomainError> {
        if [presentation, qa, deliberation]
            .iter()
            .any(|m| !(0..=240).contains(m))
            || presentation == 0
        {
            return Err(invalid(
                "agenda",
                "each phase is 0–240 minutes and the presentation at least 1",
            ));
        }
        Ok(Self {
            presentation_minutes: presentation,
            qa_minutes: qa,
            deliberation_minutes: deliberation,
        })
    }

    /// Minutes of all phases together.
    pub fn total_minutes(&self) -> i64 {
        self.presentation_minutes + self.qa_minutes + self.deliberation_minutes
    }
}

/// A session to book, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub title: Title,
    /// Defense or training.
    pub kind: SessionKind,
    /// Start, UTC.
    pub starts_at: DateTime<Utc>,
    /// Length.
    pub duration: Duration,
    /// Time zone the session is presented in.
    pub time_zone: Tz,
    /// Invitees, in the order given.
    pub participants: Vec<NewParticipant>,
    /// The project defended (defenses).
    pub project: Option<Uuid>,
    /// The virtual room.
    pub room: Option<Uuid>,
    /// Time after the end during which the participants and room stay held.
    pub buffer: Duration,
    /// The defense's phases, when known.
    pub agenda: Option<Agenda>,
    /// The panel judging it (defenses).
    pub panel: Option<Uuid>,
    /// The defense day it belongs to.
    pub defense_day: Option<Uuid>,
}

/// Longest buffer after a session.
pub const MAX_BUFFER_MINUTES: i64 = 240;

/// Longest bookable session: a whole panel-day.
pub const MAX_DURATION_MINUTES: i64 = 720;
/// Largest invitation list for one session (a training broadcast).
pub const MAX_PARTICIPANTS: usize = 1000;

impl NewSession {
    /// Checks the rules that involve several fields.
    pub fn parse(
        title: Title,
        kind: SessionKind,
        starts_at: DateTime<Utc>,
        duration_minutes: i64,
        time_zone: Tz,
        participants: Vec<NewParticipant>,
    ) -> Result<Self, DomainError> {
        if !(1..=MAX_DURATION_MINUTES).contains(&duration_minutes) {
            return Err(invalid(
                "durationMinutes",
                format!("must be between 1 and {MAX_DURATION_MINUTES}"),
            ));
        }
        if participants.is_empty() {
            return Err(invalid(
                "participants",
                "at least one participant is needed",
            ));
        }
        if participants.len() > MAX_PARTICIPANTS {
            return Err(invalid(
                "participants",
                format!("at most {MAX_PARTICIPANTS} participants per session"),
            ));
        }
        Ok(Self {
            title,
            kind,
            starts_at,
            duration: Duration::minutes(duration_minutes),
            time_zone,
            participants,
            project: None,
            room: None,
            buffer: Duration::zero(),
            agenda: None,
            panel: None,
            defense_day: None,
        })
    }

    /// Adds the project, room and buffer of a defense or training booking.
    pub fn with_booking(
        mut self,
        project: Option<Uuid>,
        room: Option<Uuid>,
        buffer_minutes: i64,
    ) -> Result<Self, DomainError> {
        if !(0..=MAX_BUFFER_MINUTES).contains(&buffer_minutes) {
            return Err(invalid(
                "bufferMinutes",
                format!("must be between 0 and {MAX_BUFFER_MINUTES}"),
            ));
        }
        self.project = project;
        self.room = room;
        self.buffer = Duration::minutes(buffer_minutes);
        Ok(self)
    }

    /// Adds an agenda; its phases must fit in the session's length.
    pub fn with_agenda(mut self, agenda: Agenda) -> Result<Self, DomainError> {
        if agenda.total_minutes() > self.duration.num_minutes() {
            return Err(invalid(
                "agenda",
                format!(
                    "the phases take {} minutes, longer than the session's {}",
                    agenda.total_minutes(),
                    self.duration.num_minutes()
                ),
            ));
        }
        self.agenda = Some(agenda);
        Ok(self)
    }

    /// End of the session itself.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at + self.duration
    }

    /// End of the time the participants and room are held (end plus buffer).
    pub fn held_until(&self) -> DateTime<Utc> {
        self.ends_at() + self.buffer
    }
}

/// A booked session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: Uuid,
    pub title: String,
    /// Defense or training.
    pub kind: SessionKind,
    /// Start, UTC.
    pub starts_at: DateTime<Utc>,
    /// Length in minutes.
    pub duration_minutes: i64,
    /// IANA time zone name.
    pub time_zone: String,
    /// The project defended.
    pub project_id: Option<Uuid>,
    /// The virtual room.
    pub room_id: Option<Uuid>,
    /// Buffer after the end, minutes.
    pub buffer_minutes: i64,
    /// Incremented on every change (the invitations' SEQUENCE).
    pub sequence: i64,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// The defense's phases, when booked with them.
    pub agenda: Option<Agenda>,
    /// The panel judging it.
    pub panel_id: Option<Uuid>,
    /// The defense day it belongs to.
    pub defense_day_id: Option<Uuid>,
}

impl Session {
    /// End, UTC.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at + Duration::minutes(self.duration_minutes)
    }
}

/// A person invited to a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// Id (appears in their join link's grant).
    pub id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Display name.
    pub name: String,
    pub role: Role,
    /// The registered person, if any.
    pub person_id: Option<Uuid>,
    /// Goes up each time their link is revoked; a link carrying an older one is void.
    pub link_generation: u32,
    /// Taken off the booking (kept on record; holds no seat; their links are void).
    pub removed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_times_are_parsed_at_the_edge() {
        assert_eq!(
            parse_email("email", " Li@Example.ORG ").unwrap(),
            "li@example.org"
        );
        for bad in [
            "", "a", "a@b", "@b.cn", "a@b@c.cn", "a b@c.cn", "a@.cn", "a@cn.",
        ] {
            assert!(parse_email("email", bad).is_err(), "{bad:?}");
        }
        let t = parse_utc_time("start", "2026-12-01T09:00:00+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T01:00:00+00:00");
        let err = parse_utc_time("start", "tomorrow").unwrap_err().to_string();
        assert!(err.starts_with("start:"), "{err}");
    }

    #[test]
    fn roles_round_trip_and_unknown_roles_are_named() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        let err = "judge".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("judge"));
    }

    #[test]
    fn observers_and_trainees_do_not_publish() {
        assert!(!Role::Observer.may_publish());
        assert!(!Role::Trainee.may_publish());
        assert!(Role::Applicant.may_publish() && Role::Expert.may_publish());
    }

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(Title::parse("  答辩 1  ").unwrap().as_str(), "答辩 1");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"字".repeat(201)).is_err());
        assert!(Title::parse(&"字".repeat(200)).is_ok());
        assert!(PersonName::parse("a\u{0007}b").is_err());
    }

    #[test]
    fn time_zone_defaults_to_shanghai_and_rejects_unknown_names() {
        assert_eq!(parse_time_zone(None).unwrap(), chrono_tz::Asia::Shanghai);
        assert_eq!(
            parse_time_zone(Some("Europe/Berlin")).unwrap(),
            chrono_tz::Europe::Berlin
        );
        assert!(parse_time_zone(Some("Mars/Olympus")).is_err());
    }

    #[test]
    fn durations_and_participant_counts_are_bounded() {
        let p = vec![NewParticipant {
            name: PersonName::parse("张三").unwrap(),
            role: Role::Host,
            person: None,
        }];
        let t = Title::parse("t").unwrap();
        let tz = chrono_tz::Asia::Shanghai;
        let now = Utc::now();
        assert!(NewSession::parse(t.clone(), SessionKind::Defense, now, 0, tz, p.clone()).is_err());
        assert!(
            NewSession::parse(t.clone(), SessionKind::Defense, now, 721, tz, p.clone()).is_err()
        );
        assert!(NewSession::parse(t.clone(), SessionKind::Defense, now, 30, tz, vec![]).is_err());
        assert!(NewSession::parse(t, SessionKind::Defense, now, 720, tz, p).is_ok());
    }
}
