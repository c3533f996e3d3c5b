//! The embedded SQLite backend: one file, WAL journal, migrations applied on open.
//!
//! Each concern's part of the storage traits is implemented in the file of its name;
//! this module holds the connection, the migrations and the row readers they share.

use std::str::FromStr;

mod accounts;
mod audit;
mod backup;
mod booking;
mod directory;
mod help_videos;
mod live;
mod recordings;
mod records;
mod samples;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use uuid::Uuid;

use crate::domain::{NewSession, Participant, Role, Session, SessionKind};
use crate::model::{
    BookingConflict, ConflictTarget, NewPerson, NewProject, Notification, NotificationKind,
    Organisation, Panel, Person, Programme, Project, Room, person_resource, role_claims_time,
    room_resource,
};
use crate::record::{
    AuditEntry, BackupRecord, ChatMessage, ConnectionEvent, Criterion, HelpVideo, NewAuditEntry,
    ProductionJob, Rating, RecordingPart, RecordingRecord, ScoreSheetRecord, StreamSampleRecord,
};
use crate::store::prelude::*;
use crate::store::{AUDIT_APPEND_ATTEMPTS, StoreError, UserRecord};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or
    /// `sqlite::memory:`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        // Every connection to `:memory:` is its own database: keep one.
        let max_connections = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.into()))?;
        Ok(Self { pool })
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Fixed-width UTC with nanoseconds, so that text order is time order.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn time_col(row: &SqliteRow, col: &str) -> Result<DateTime<Utc>, StoreError> {
    let raw: String = row.try_get(col)?;
    Ok(DateTime::parse_from_rfc3339(&raw)
        .map_err(|e| corrupt(col, e))?
        .with_timezone(&Utc))
}

fn opt_time_col(row: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| {
        DateTime::parse_from_rfc3339(&r)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| corrupt(col, e))
    })
    .transpose()
}

fn uuid_col(row: &SqliteRow, col: &str) -> Result<Uuid, StoreError> {
    let raw: String = row.try_get(col)?;
    Uuid::parse_str(&raw).map_err(|e| corrupt(col, e))
}

fn session_from_row(row: &SqliteRow) -> Result<Session, StoreError> {
    let kind: String = row.try_get("kind")?;
    let starts_at: String = row.try_get("starts_at")?;
    Ok(Session {
        id: uuid_col(row, "id")?,
        title: row.try_get("title")?,
        kind: SessionKind::from_str(&kind).map_err(|e| corrupt("kind", e))?,
        starts_at: DateTime::parse_from_rfc3339(&starts_at)
            .map_err(|e| corrupt("starts_at", e))?
            .with_timezone(&Utc),
        duration_minutes: row.try_get("duration_minutes")?,
        time_zone: row.try_get("time_zone")?,
        project_id: opt_uuid_col(row, "project_id")?,
        room_id: opt_uuid_col(row, "room_id")?,
        buffer_minutes: row.try_get("buffer_minutes")?,
        sequence: row.try_get("sequence")?,
        cancelled: row.try_get::<Option<String>, _>("cancelled_at")?.is_some(),
        agenda: match (
            row.try_get::<Option<i64>, _>("presentation_minutes")?,
            row.try_get::<Option<i64>, _>("qa_minutes")?,
            row.try_get::<Option<i64>, _>("deliberation_minutes")?,
        ) {
            (Some(p), Some(q), Some(d)) => Some(crate::domain::Agenda {
                presentation_minutes: p,
                qa_minutes: q,
                deliberation_minutes: d,
            }),
            _ => None,
        },
        panel_id: opt_uuid_col(row, "panel_id")?,
        defense_day_id: opt_uuid_col(row, "defense_day_id")?,
    })
}

fn opt_uuid_col(row: &SqliteRow, col: &str) -> Result<Option<Uuid>, StoreError> {
    let raw: Option<String> = row.try_get(col)?;
    raw.map(|r| Uuid::parse_str(&r).map_err(|e| corrupt(col, e)))
        .transpose()
}

fn participant_from_row(row: &SqliteRow) -> Result<Participant, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(Participant {
        id: uuid_col(row, "id")?,
        session_id: uuid_col(row, "session_id")?,
        name: row.try_get("display_name")?,
        role: Role::from_str(&role).map_err(|e| corrupt("role", e))?,
        person_id: opt_uuid_col(row, "person_id")?,
        link_generation: u32::try_from(row.try_get::<i64, _>("link_generation")?)
            .map_err(|e| corrupt("link_generation", e))?,
        removed: row.try_get::<Option<String>, _>("removed_at")?.is_some(),
    })
}

fn user_from_row(row: &SqliteRow) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        id: uuid_col(row, "id")?,
        username: row.try_get("username")?,
        password_hash: row.try_get("password_hash")?,
    })
}

/// Maps named constraint violations to [`StoreError::Conflict`].
fn map_write_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && (db.is_unique_violation() || db.is_check_violation())
    {
        return StoreError::Conflict(db.message().to_owned());
    }
    if let sqlx::Error::Database(db) = &e
        && db.is_foreign_key_violation()
    {
        return StoreError::UnknownReference(
            "an id in the request names nothing that exists".to_owned(),
        );
    }
    StoreError::Database(e)
}

const SESSION_COLUMNS: &str = "id, title, kind, starts_at, duration_minutes, time_zone, project_id, room_id, buffer_minutes, sequence, cancelled_at, presentation_minutes, qa_minutes, deliberation_minutes, panel_id, defense_day_id";
const PARTICIPANT_COLUMNS: &str =
    "id, session_id, display_name, role, person_id, link_generation, removed_at";

/// The trigger that refused a write, if it was one of the booking-integrity triggers.
fn trigger_refusal(e: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    match db.message() {
        "double_booking" => Some("double_booking"),
        "conflict_of_interest" => Some("conflict_of_interest"),
        _ => None,
    }
}

/// One exclusive claim a booking makes.
struct Claim {
    resource: String,
    starts_at: i64,
    ends_at: i64,
}

fn claims_of(new: &NewSession) -> Vec<Claim> {
    let (starts_at, ends_at) = (new.starts_at.timestamp(), new.held_until().timestamp());
    let mut claims: Vec<Claim> = new
        .participants
        .iter()
        .filter(|p| role_claims_time(p.role))
        .filter_map(|p| p.person)
        .map(|id| Claim {
            resource: person_resource(id),
            starts_at,
            ends_at,
        })
        .collect();
    if let Some(room) = new.room {
        claims.push(Claim {
            resource: room_resource(room),
            starts_at,
            ends_at,
        });
    }
    // A person listed twice (e.g. expert and applicant) holds the time once.
    claims.sort_by(|a, b| a.resource.cmp(&b.resource));
    claims.dedup_by(|a, b| a.resource == b.resource);
    claims
}

fn utc_from_unix(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc3339()
}

impl SqliteStore {
    /// Refuses a defense whose panel is outside its programme's size limits.
    async fn check_panel_size(
        tx: &mut sqlx::SqliteConnection,
        new: &NewSession,
    ) -> Result<(), StoreError> {
        let Some(project) = new.project else {
            return Ok(());
        };
        let row = sqlx::query(
            "SELECT g.name, g.min_panel_size, g.max_panel_size FROM projects p
             JOIN programmes g ON g.id = p.programme_id WHERE p.id = ?",
        )
        .bind(project.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let (programme, min, max): (String, i64, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let experts = new
            .participants
            .iter()
            .filter(|p| p.role == Role::Expert)
            .count();
        if (experts as i64) < min || (experts as i64) > max {
            return Err(BookingConflict::PanelSize {
                experts,
                programme,
                min,
                max,
            }
            .into());
        }
        Ok(())
    }

    async fn insert_claims(
        tx: &mut sqlx::SqliteConnection,
        session: Uuid,
        claims: &[Claim],
    ) -> Result<(), sqlx::Error> {
        for claim in claims {
            sqlx::query(
                "INSERT INTO resource_claims (session_id, resource, starts_at, ends_at) VALUES (?, ?, ?, ?)",
            )
            .bind(session.to_string())
            .bind(&claim.resource)
            .bind(claim.starts_at)
            .bind(claim.ends_at)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    /// Names the first conflicting claim, after the database refused `claims`.
    async fn describe_double_booking(&self, session: Uuid, claims: &[Claim]) -> StoreError {
        for claim in claims {
            let other = sqlx::query(
                "SELECT c.session_id, s.title, c.starts_at, c.ends_at FROM resource_claims c
                 JOIN sessions s ON s.id = c.session_id
                 WHERE c.resource = ? AND c.session_id <> ? AND c.starts_at < ? AND ? < c.ends_at
                 ORDER BY c.starts_at LIMIT 1",
            )
            .bind(&claim.resource)
            .bind(session.to_string())
            .bind(claim.ends_at)
            .bind(claim.starts_at)
            .fetch_optional(&self.pool)
            .await;
            let Ok(Some(row)) = other else { continue };
            let resource = self.resource_name(&claim.resource).await;
            let other_session = uuid_col(&row, "session_id").unwrap_or_default();
            return BookingConflict::DoubleBooked {
                resource,
                other_session,
                other_title: row.try_get("title").unwrap_or_default(),
                from: utc_from_unix(row.try_get("starts_at").unwrap_or_default()),
                until: utc_from_unix(row.try_get("ends_at").unwrap_or_default()),
            }
            .into();
        }
        // The other booking was cancelled between the refusal and this look-up.
        StoreError::Conflict("a participant or the room was booked concurrently; try again".into())
    }

    async fn resource_name(&self, resource: &str) -> String {
        let (table, id) = match resource.split_once(':') {
            Some(("person", id)) => ("people", id),
            Some(("room", id)) => ("rooms", id),
            _ => return resource.to_owned(),
        };
        sqlx::query_scalar::<_, String>(&format!("SELECT name FROM {table} WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| resource.to_owned())
    }

    /// Names the expert with a conflict of interest, after the database refused one.
    async fn describe_conflict_of_interest(&self, new: &NewSession) -> StoreError {
        let project = new.project.map(|p| p.to_string()).unwrap_or_default();
        for p in new.participants.iter().filter(|p| p.role == Role::Expert) {
            let Some(person) = p.person else { continue };
            let hit = sqlx::query(
                "SELECT pr.code FROM projects pr JOIN people e ON e.id = ?
                 WHERE pr.id = ? AND (e.organisation_id = pr.organisation_id OR EXISTS (
                   SELECT 1 FROM conflicts_of_interest c WHERE c.expert_id = e.id
                   AND (c.project_id = pr.id OR c.organisation_id = pr.organisation_id)))",
            )
            .bind(person.to_string())
            .bind(&project)
            .fetch_optional(&self.pool)
            .await;
            if let Ok(Some(row)) = hit {
                return BookingConflict::ConflictOfInterest {
                    expert: p.name.as_str().to_owned(),
                    project: row.try_get(0).unwrap_or_default(),
                }
                .into();
            }
        }
        StoreError::Conflict("conflict of interest".into())
    }

    async fn insert_session(
        tx: &mut sqlx::SqliteConnection,
        session: &Session,
        new: &NewSession,
    ) -> Result<Vec<Participant>, sqlx::Error> {
        sqlx::query(
            "INSERT INTO sessions (id, title, kind, starts_at, duration_minutes, time_zone, created_at,
                                   project_id, room_id, buffer_minutes,
                                   presentation_minutes, qa_minutes, deliberation_minutes,
                                   panel_id, defense_day_id)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id.to_string())
        .bind(&session.title)
        .bind(session.kind.as_str())
        .bind(session.starts_at.to_rfc3339())
        .bind(session.duration_minutes)
        .bind(&session.time_zone)
        .bind(Utc::now().to_rfc3339())
        .bind(session.project_id.map(|p| p.to_string()))
        .bind(session.room_id.map(|r| r.to_string()))
        .bind(session.buffer_minutes)
        .bind(session.agenda.map(|a| a.presentation_minutes))
        .bind(session.agenda.map(|a| a.qa_minutes))
        .bind(session.agenda.map(|a| a.deliberation_minutes))
        .bind(session.panel_id.map(|p| p.to_string()))
        .bind(session.defense_day_id.map(|d| d.to_string()))
        .execute(&mut *tx)
        .await?;
        let mut participants = Vec::with_capacity(new.participants.len());
        for (position, p) in new.participants.iter().enumerate() {
            let participant = Participant {
                id: Uuid::new_v4(),
                session_id: session.id,
                name: p.name.as_str().to_owned(),
                role: p.role,
                person_id: p.person,
                link_generation: 0,
                removed: false,
            };
            sqlx::query(
                "INSERT INTO session_participants (id, session_id, display_name, role, position, person_id)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(participant.id.to_string())
            .bind(session.id.to_string())
            .bind(&participant.name)
            .bind(participant.role.as_str())
            .bind(position as i64)
            .bind(p.person.map(|id| id.to_string()))
            .execute(&mut *tx)
            .await?;
            participants.push(participant);
        }
        Ok(participants)
    }
}

/// Inserts interval samples inside a transaction.
async fn insert_samples(
    tx: &mut sqlx::SqliteConnection,
    samples: &[StreamSampleRecord],
) -> Result<(), StoreError> {
    for s in samples {
        sqlx::query(
                "INSERT INTO stream_samples (session_id, participant_id, at, seconds, direction, track, packets, lost, kbps, jitter_ms, rtt_ms, keyframes, freezes, frames, nacks, plis)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(s.session_id.to_string())
            .bind(s.participant_id.to_string())
            .bind(timestamp(s.at))
            .bind(s.seconds)
            .bind(&s.direction)
            .bind(&s.track)
            .bind(s.packets)
            .bind(s.lost)
            .bind(s.kbps)
            .bind(s.jitter_ms)
            .bind(s.rtt_ms)
            .bind(s.keyframes)
            .bind(s.freezes)
            .bind(s.frames)
            .bind(s.nacks)
            .bind(s.plis)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
    }
    Ok(())
}

fn help_video_from_row(row: &SqliteRow) -> Result<HelpVideo, StoreError> {
    let tags: String = row.try_get("tags")?;
    Ok(HelpVideo {
        id: uuid_col(row, "id")?,
        recording_id: uuid_col(row, "recording_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt("tags", e))?,
        category: row.try_get("category")?,
        envoy: row.try_get("envoy")?,
        published_by: row.try_get("published_by")?,
        published_at: time_col(row, "published_at")?,
        views: row.try_get("views")?,
    })
}

fn recording_from_row(row: &SqliteRow) -> Result<RecordingRecord, StoreError> {
    Ok(RecordingRecord {
        id: uuid_col(row, "id")?,
        session_id: uuid_col(row, "session_id")?,
        started_at: time_col(row, "started_at")?,
        stopped_at: opt_time_col(row, "stopped_at")?,
        state: row.try_get("state")?,
        error: row.try_get("error")?,
    })
}

fn job_from_row(row: &SqliteRow) -> Result<ProductionJob, StoreError> {
    Ok(ProductionJob {
        id: uuid_col(row, "id")?,
        recording_id: uuid_col(row, "recording_id")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        progress: row.try_get("progress")?,
        error: row.try_get("error")?,
        outputs: row.try_get("outputs")?,
        updated_at: time_col(row, "updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewParticipant, PersonName, Title};

    async fn store() -> SqliteStore {
        SqliteStore::open("sqlite::memory:").await.unwrap()
    }

    fn booking() -> NewSession {
        NewSession::parse(
            Title::parse("项目答辩 A").unwrap(),
            SessionKind::Defense,
            "2026-12-01T01:00:00Z".parse().unwrap(),
            45,
            chrono_tz::Asia::Shanghai,
            vec![
                NewParticipant {
                    name: PersonName::parse("秘书").unwrap(),
                    role: Role::Host,
                    person: None,
                },
                NewParticipant {
                    name: PersonName::parse("申请人").unwrap(),
                    role: Role::Applicant,
                    person: None,
                },
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_booked_session_reads_back_with_participants_in_order() {
        let store = store().await;
        let (session, participants) = store.create_session(&booking()).await.unwrap();
        assert_eq!(store.session(session.id).await.unwrap(), session);
        assert_eq!(store.participants(session.id).await.unwrap(), participants);
        assert_eq!(participants[1].role, Role::Applicant);
        assert_eq!(
            store.participant(participants[0].id).await.unwrap().name,
            "秘书"
        );
        let found = store
            .sessions_between(session.starts_at, session.ends_at())
            .await
            .unwrap();
        assert_eq!(found, vec![session]);
    }

    #[tokio::test]
    async fn unknown_ids_are_not_found() {
        let store = store().await;
        assert!(matches!(
            store.session(Uuid::new_v4()).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store.participant(Uuid::new_v4()).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn usernames_are_unique() {
        let store = store().await;
        store.create_administrator("admin", "h1").await.unwrap();
        assert!(matches!(
            store.create_administrator("admin", "h2").await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.administrator_count().await.unwrap(), 1);
        store.set_password_hash("admin", "h3").await.unwrap();
        assert_eq!(
            store.user_by_username("admin").await.unwrap().password_hash,
            "h3"
        );
    }
}
