//! The embedded SQLite backend: one file, WAL journal, migrations applied on open.

use std::str::FromStr;

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
use crate::store::{AUDIT_APPEND_ATTEMPTS, Store, StoreError, UserRecord};

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

#[async_trait]
impl Store for SqliteStore {
    async fn create_session(
        &self,
        new: &NewSession,
    ) -> Result<(Session, Vec<Participant>), StoreError> {
        let session = Session {
            id: Uuid::new_v4(),
            title: new.title.as_str().to_owned(),
            kind: new.kind,
            starts_at: new.starts_at,
            duration_minutes: new.duration.num_minutes(),
            time_zone: new.time_zone.name().to_owned(),
            project_id: new.project,
            room_id: new.room,
            buffer_minutes: new.buffer.num_minutes(),
            sequence: 0,
            cancelled: false,
            agenda: new.agenda,
            panel_id: new.panel,
            defense_day_id: new.defense_day,
        };
        let claims = claims_of(new);
        // IMMEDIATE takes the write lock up front, so concurrent bookings queue instead
        // of failing to upgrade a read lock; the triggers then see every committed claim.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Self::check_panel_size(&mut tx, new).await?;
        let written = match Self::insert_session(&mut tx, &session, new).await {
            Ok(participants) => Self::insert_claims(&mut tx, session.id, &claims)
                .await
                .map(|()| participants),
            Err(e) => Err(e),
        };
        match written {
            Ok(participants) => {
                tx.commit().await?;
                Ok((session, participants))
            }
            Err(e) => {
                drop(tx);
                Err(match trigger_refusal(&e) {
                    Some("double_booking") => {
                        self.describe_double_booking(session.id, &claims).await
                    }
                    Some(_) => self.describe_conflict_of_interest(new).await,
                    None => map_write_error(e),
                })
            }
        }
    }

    async fn session(&self, id: Uuid) -> Result<Session, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        session_from_row(&row)
    }

    async fn participants(&self, session_id: Uuid) -> Result<Vec<Participant>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants
             WHERE session_id = ? AND removed_at IS NULL ORDER BY position"
        ))
        .bind(session_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(participant_from_row)
        .collect()
    }

    async fn participant(&self, id: Uuid) -> Result<Participant, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        participant_from_row(&row)
    }

    async fn sessions_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        // RFC 3339 strings in UTC ('+00:00') sort as times.
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE starts_at >= ? AND starts_at < ? ORDER BY starts_at"
        ))
        .bind(from.to_rfc3339())
        .bind(to.to_rfc3339())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn administrator_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'administrator'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    async fn create_administrator(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        let user = UserRecord {
            id: Uuid::new_v4(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, created_at)
             VALUES (?, ?, ?, 'administrator', ?)",
        )
        .bind(user.id.to_string())
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(user)
    }

    async fn set_password_hash(
        &self,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE users SET password_hash = ? WHERE username = ?")
            .bind(password_hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn user_by_username(&self, username: &str) -> Result<UserRecord, StoreError> {
        let row = sqlx::query("SELECT id, username, password_hash FROM users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    async fn create_organisation(&self, name: &str) -> Result<Organisation, StoreError> {
        let org = Organisation {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
        };
        sqlx::query("INSERT INTO organisations (id, name) VALUES (?, ?)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(org)
    }

    async fn create_person(&self, new: &NewPerson) -> Result<Person, StoreError> {
        let person = Person {
            id: Uuid::new_v4(),
            name: new.name.as_str().to_owned(),
            email: new.email.clone(),
            organisation_id: new.organisation,
            roles: new.roles.clone(),
            fields: new.fields.clone(),
            time_zone: new.time_zone.name().to_owned(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(person.id.to_string())
        .bind(&person.name)
        .bind(&person.email)
        .bind(person.organisation_id.map(|o| o.to_string()))
        .bind(person.fields.join("|"))
        .bind(&person.time_zone)
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        for role in &person.roles {
            sqlx::query("INSERT INTO person_roles (person_id, role) VALUES (?, ?)")
                .bind(person.id.to_string())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(person)
    }

    async fn person(&self, id: Uuid) -> Result<Person, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, organisation_id, fields, time_zone FROM people WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT role FROM person_roles WHERE person_id = ? ORDER BY role")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let fields: String = row.try_get("fields")?;
        Ok(Person {
            id,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            organisation_id: opt_uuid_col(&row, "organisation_id")?,
            roles: roles
                .iter()
                .filter_map(|r| Role::from_str(r).ok())
                .collect(),
            fields: fields
                .split('|')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            time_zone: row.try_get("time_zone")?,
        })
    }

    async fn create_programme(
        &self,
        name: &str,
        min_panel_size: i64,
        max_panel_size: i64,
    ) -> Result<Programme, StoreError> {
        let programme = Programme {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            min_panel_size,
            max_panel_size,
        };
        sqlx::query(
            "INSERT INTO programmes (id, name, min_panel_size, max_panel_size) VALUES (?, ?, ?, ?)",
        )
        .bind(programme.id.to_string())
        .bind(&programme.name)
        .bind(min_panel_size)
        .bind(max_panel_size)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(programme)
    }

    async fn create_project(&self, new: &NewProject) -> Result<Project, StoreError> {
        let project = Project {
            id: Uuid::new_v4(),
            code: new.code.clone(),
            title: new.title.clone(),
            programme_id: new.programme,
            applicant_id: new.applicant,
            organisation_id: new.organisation,
            field: new.field.clone(),
        };
        sqlx::query(
            "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(project.id.to_string())
        .bind(&project.code)
        .bind(&project.title)
        .bind(project.programme_id.to_string())
        .bind(project.applicant_id.to_string())
        .bind(project.organisation_id.to_string())
        .bind(&project.field)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(project)
    }

    async fn declare_conflict(
        &self,
        expert: Uuid,
        target: ConflictTarget,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (project, organisation) = match target {
            ConflictTarget::Project(p) => (Some(p.to_string()), None),
            ConflictTarget::Organisation(o) => (None, Some(o.to_string())),
        };
        sqlx::query(
            "INSERT INTO conflicts_of_interest (id, expert_id, project_id, organisation_id, reason)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(expert.to_string())
        .bind(project)
        .bind(organisation)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn create_room(&self, name: &str) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO rooms (id, name) VALUES (?, ?)")
            .bind(id.to_string())
            .bind(name.trim())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(id)
    }

    async fn reschedule_session(
        &self,
        id: Uuid,
        starts_at: DateTime<Utc>,
        duration_minutes: i64,
    ) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE sessions SET starts_at = ?, duration_minutes = ?, sequence = sequence + 1
             WHERE id = ? AND cancelled_at IS NULL",
        )
        .bind(starts_at.to_rfc3339())
        .bind(duration_minutes)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let buffer: i64 = sqlx::query_scalar("SELECT buffer_minutes FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let (from, until) = (
            starts_at.timestamp(),
            starts_at.timestamp() + (duration_minutes + buffer) * 60,
        );
        let resources: Vec<String> =
            sqlx::query_scalar("SELECT resource FROM resource_claims WHERE session_id = ?")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
        let claims: Vec<Claim> = resources
            .into_iter()
            .map(|resource| Claim {
                resource,
                starts_at: from,
                ends_at: until,
            })
            .collect();
        let moved = sqlx::query(
            "UPDATE resource_claims SET starts_at = ?, ends_at = ? WHERE session_id = ?",
        )
        .bind(from)
        .bind(until)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await;
        if let Err(e) = moved {
            drop(tx);
            return Err(match trigger_refusal(&e) {
                Some(_) => self.describe_double_booking(id, &claims).await,
                None => map_write_error(e),
            });
        }
        tx.commit().await?;
        self.session(id).await
    }

    async fn cancel_session(&self, id: Uuid) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE sessions SET cancelled_at = ?, sequence = sequence + 1
             WHERE id = ? AND cancelled_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM resource_claims WHERE session_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.session(id).await
    }

    async fn remove_participant(
        &self,
        session: Uuid,
        participant: Uuid,
    ) -> Result<Participant, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE session_participants SET removed_at = ?, link_generation = link_generation + 1
             WHERE id = ? AND session_id = ? AND removed_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(participant.to_string())
        .bind(session.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Their person's time is released unless another seat of the session is theirs.
        sqlx::query(
            "DELETE FROM resource_claims
             WHERE session_id = ?1
               AND resource = (SELECT 'person:' || person_id FROM session_participants WHERE id = ?2)
               AND NOT EXISTS (
                   SELECT 1 FROM session_participants o
                   WHERE o.session_id = ?1 AND o.removed_at IS NULL
                     AND o.person_id = (SELECT person_id FROM session_participants WHERE id = ?2))",
        )
        .bind(session.to_string())
        .bind(participant.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET sequence = sequence + 1 WHERE id = ?")
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.participant(participant).await
    }

    async fn revoke_participant_links(&self, participant: Uuid) -> Result<Participant, StoreError> {
        let done = sqlx::query(
            "UPDATE session_participants SET link_generation = link_generation + 1
             WHERE id = ? AND removed_at IS NULL",
        )
        .bind(participant.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.participant(participant).await
    }

    async fn record_notifications(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for n in notifications {
            sqlx::query(
                "INSERT INTO notifications (id, session_id, participant_id, kind, sequence, channel, ics, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(n.id.to_string())
            .bind(n.session_id.to_string())
            .bind(n.participant_id.to_string())
            .bind(n.kind.as_str())
            .bind(n.sequence)
            .bind(&n.channel)
            .bind(&n.ics)
            .bind(Utc::now().to_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(&self, session_id: Uuid) -> Result<Vec<Notification>, StoreError> {
        sqlx::query("SELECT id, session_id, participant_id, kind, sequence, channel, ics FROM notifications WHERE session_id = ? ORDER BY created_at, rowid")
            .bind(session_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Notification {
                    id: uuid_col(row, "id")?,
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                    sequence: row.try_get("sequence")?,
                    channel: row.try_get("channel")?,
                    ics: row.try_get("ics")?,
                })
            })
            .collect()
    }

    async fn import_snapshot(&self) -> Result<crate::import::Existing, StoreError> {
        let mut existing = crate::import::Existing::default();
        for row in sqlx::query("SELECT id, name FROM organisations")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .organisations
                .insert(row.try_get("name")?, uuid_col(&row, "id")?);
        }
        for row in sqlx::query("SELECT id, name FROM programmes")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .programmes
                .insert(row.try_get("name")?, uuid_col(&row, "id")?);
        }
        existing.project_codes = sqlx::query_scalar::<_, String>("SELECT code FROM projects")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        for row in
            sqlx::query("SELECT id, lower(email) AS email FROM people WHERE email IS NOT NULL")
                .fetch_all(&self.pool)
                .await?
        {
            existing
                .emails
                .insert(row.try_get("email")?, uuid_col(&row, "id")?);
        }
        Ok(existing)
    }

    async fn apply_import(&self, batch: &crate::import::ImportBatch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, name) in &batch.organisations {
            sqlx::query("INSERT INTO organisations (id, name) VALUES (?, ?)")
                .bind(id.to_string())
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        for p in &batch.people {
            sqlx::query("INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(p.id.to_string())
                .bind(p.person.name.as_str())
                .bind(&p.person.email)
                .bind(p.person.organisation.map(|v| v.to_string()))
                .bind(p.person.fields.join("|"))
                .bind(p.person.time_zone.name())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
            for role in &p.person.roles {
                sqlx::query("INSERT INTO person_roles (person_id, role) VALUES (?, ?)")
                    .bind(p.id.to_string())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_write_error)?;
            }
        }
        for project in &batch.projects {
            sqlx::query(
                "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(&project.code)
            .bind(&project.title)
            .bind(project.programme.to_string())
            .bind(project.applicant.to_string())
            .bind(project.organisation.to_string())
            .bind(&project.field)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        sqlx::query("SELECT id, name FROM organisations ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Organisation {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let mut roles: std::collections::HashMap<Uuid, Vec<Role>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT person_id, role FROM person_roles ORDER BY role")
            .fetch_all(&self.pool)
            .await?
        {
            let role: String = row.try_get("role")?;
            if let Ok(role) = Role::from_str(&role) {
                roles
                    .entry(uuid_col(&row, "person_id")?)
                    .or_default()
                    .push(role);
            }
        }
        sqlx::query("SELECT id, name, email, organisation_id, fields, time_zone FROM people ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = uuid_col(row, "id")?;
                let fields: String = row.try_get("fields")?;
                Ok(Person {
                    id,
                    name: row.try_get("name")?,
                    email: row.try_get("email")?,
                    organisation_id: opt_uuid_col(row, "organisation_id")?,
                    roles: roles.remove(&id).unwrap_or_default(),
                    fields: fields
                        .split('|')
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    time_zone: row.try_get("time_zone")?,
                })
            })
            .collect()
    }

    async fn programmes(&self) -> Result<Vec<Programme>, StoreError> {
        sqlx::query("SELECT id, name, min_panel_size, max_panel_size FROM programmes ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Programme {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                    min_panel_size: row.try_get("min_panel_size")?,
                    max_panel_size: row.try_get("max_panel_size")?,
                })
            })
            .collect()
    }

    async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        sqlx::query(
            "SELECT id, code, title, programme_id, applicant_id, organisation_id, field FROM projects ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Project {
                id: uuid_col(row, "id")?,
                code: row.try_get("code")?,
                title: row.try_get("title")?,
                programme_id: uuid_col(row, "programme_id")?,
                applicant_id: uuid_col(row, "applicant_id")?,
                organisation_id: uuid_col(row, "organisation_id")?,
                field: row.try_get("field")?,
            })
        })
        .collect()
    }

    async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        sqlx::query("SELECT id, name FROM rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Room {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn create_panel(
        &self,
        name: &str,
        chair: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<Panel, StoreError> {
        if let Some(chair) = chair
            && !members.contains(&chair)
        {
            return Err(StoreError::Conflict(
                "the chair must be a member of the panel".into(),
            ));
        }
        let panel = Panel {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            chair_id: chair,
            members: members.to_vec(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO panels (id, name, chair_id) VALUES (?, ?, ?)")
            .bind(panel.id.to_string())
            .bind(&panel.name)
            .bind(panel.chair_id.map(|v| v.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        for member in members {
            sqlx::query("INSERT INTO panel_members (panel_id, person_id) VALUES (?, ?)")
                .bind(panel.id.to_string())
                .bind(member.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(panel)
    }

    async fn panels(&self) -> Result<Vec<Panel>, StoreError> {
        let mut members: std::collections::HashMap<Uuid, Vec<Uuid>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT panel_id, person_id FROM panel_members")
            .fetch_all(&self.pool)
            .await?
        {
            members
                .entry(uuid_col(&row, "panel_id")?)
                .or_default()
                .push(uuid_col(&row, "person_id")?);
        }
        sqlx::query("SELECT id, name, chair_id FROM panels ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = uuid_col(row, "id")?;
                let mut m = members.remove(&id).unwrap_or_default();
                m.sort();
                Ok(Panel {
                    id,
                    name: row.try_get("name")?,
                    chair_id: opt_uuid_col(row, "chair_id")?,
                    members: m,
                })
            })
            .collect()
    }

    async fn conflicts(&self) -> Result<Vec<(Uuid, ConflictTarget)>, StoreError> {
        sqlx::query("SELECT expert_id, project_id, organisation_id FROM conflicts_of_interest")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let expert = uuid_col(row, "expert_id")?;
                let project: Option<Uuid> = opt_uuid_col(row, "project_id")?;
                let organisation: Option<Uuid> = opt_uuid_col(row, "organisation_id")?;
                let target = match (project, organisation) {
                    (Some(p), _) => ConflictTarget::Project(p),
                    (None, Some(o)) => ConflictTarget::Organisation(o),
                    (None, None) => return Err(corrupt("conflicts_of_interest", "no target")),
                };
                Ok((expert, target))
            })
            .collect()
    }

    async fn add_window(&self, w: &crate::model::AvailabilityWindow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO availability_windows (id, person_id, kind, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)")
            .bind(Uuid::new_v4().to_string())
            .bind(w.person_id.to_string())
            .bind(w.kind.as_str())
            .bind(w.starts_at.timestamp())
            .bind(w.ends_at.timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(())
    }

    async fn windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::model::AvailabilityWindow>, StoreError> {
        sqlx::query("SELECT person_id, kind, starts_at, ends_at FROM availability_windows WHERE starts_at < ? AND ? < ends_at")
            .bind(to.timestamp())
            .bind(from.timestamp())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(crate::model::AvailabilityWindow {
                    person_id: uuid_col(row, "person_id")?,
                    kind: if kind == "preferred" { crate::model::WindowKind::Preferred } else { crate::model::WindowKind::Unavailable },
                    starts_at: DateTime::from_timestamp(row.try_get("starts_at")?, 0).unwrap_or_default(),
                    ends_at: DateTime::from_timestamp(row.try_get("ends_at")?, 0).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn create_defense_day(&self, day: &crate::model::DefenseDay) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO defense_days (id, date, time_zone, day_start, slots, presentation_minutes,
                                       qa_minutes, deliberation_minutes, buffer_minutes, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(day.id.to_string())
        .bind(day.date.to_string())
        .bind(&day.time_zone)
        .bind(&day.day_start)
        .bind(day.slots)
        .bind(day.agenda.presentation_minutes)
        .bind(day.agenda.qa_minutes)
        .bind(day.agenda.deliberation_minutes)
        .bind(day.buffer_minutes)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn record_phase(
        &self,
        session: Uuid,
        phase: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO phase_changes (session_id, phase, at) VALUES (?, ?, ?)")
            .bind(session.to_string())
            .bind(phase)
            // Fixed-width UTC with nanoseconds, so text order is time order.
            .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(())
    }

    async fn phases(&self, session: Uuid) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        sqlx::query("SELECT phase, at FROM phase_changes WHERE session_id = ? ORDER BY at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let at: String = row.try_get("at")?;
                Ok((
                    row.try_get("phase")?,
                    DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| corrupt("at", e))?
                        .with_timezone(&Utc),
                ))
            })
            .collect()
    }

    async fn session_criteria(&self, session: Uuid) -> Result<Vec<Criterion>, StoreError> {
        let row = sqlx::query(
            "SELECT g.criteria FROM sessions s JOIN projects p ON p.id = s.project_id
             JOIN programmes g ON g.id = p.programme_id WHERE s.id = ?",
        )
        .bind(session.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let raw: Option<String> = match row {
            Some(row) => row.try_get("criteria")?,
            None => None,
        };
        match raw {
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("criteria", e)),
            None => Ok(Criterion::defaults()),
        }
    }

    async fn set_programme_criteria(
        &self,
        programme: Uuid,
        criteria: &[Criterion],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(criteria).map_err(|e| corrupt("criteria", e))?;
        let done = sqlx::query("UPDATE programmes SET criteria = ? WHERE id = ?")
            .bind(json)
            .bind(programme.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn save_score_sheet(&self, sheet: &ScoreSheetRecord) -> Result<(), StoreError> {
        let scores = serde_json::to_string(&sheet.scores).map_err(|e| corrupt("scores", e))?;
        sqlx::query(
            "INSERT INTO score_sheets (session_id, expert_id, scores, comment, submitted_at, locked, reopen_reason)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (session_id, expert_id) DO UPDATE SET scores = excluded.scores,
               comment = excluded.comment, submitted_at = excluded.submitted_at,
               locked = excluded.locked, reopen_reason = score_sheets.reopen_reason",
        )
        .bind(sheet.session_id.to_string())
        .bind(sheet.expert_id.to_string())
        .bind(scores)
        .bind(&sheet.comment)
        .bind(timestamp(sheet.submitted_at))
        .bind(sheet.locked)
        .bind(&sheet.reopen_reason)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn reopen_score_sheet(
        &self,
        session: Uuid,
        expert: Uuid,
        reason: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE score_sheets SET locked = 0, reopen_reason = ? WHERE session_id = ? AND expert_id = ?",
        )
        .bind(reason)
        .bind(session.to_string())
        .bind(expert.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn score_sheets(&self, session: Uuid) -> Result<Vec<ScoreSheetRecord>, StoreError> {
        sqlx::query(
            "SELECT s.* FROM score_sheets s JOIN session_participants p ON p.id = s.expert_id
             WHERE s.session_id = ? ORDER BY p.position",
        )
        .bind(session.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let scores: String = row.try_get("scores")?;
            Ok(ScoreSheetRecord {
                session_id: uuid_col(row, "session_id")?,
                expert_id: uuid_col(row, "expert_id")?,
                scores: serde_json::from_str(&scores).map_err(|e| corrupt("scores", e))?,
                comment: row.try_get("comment")?,
                submitted_at: time_col(row, "submitted_at")?,
                locked: row.try_get("locked")?,
                reopen_reason: row.try_get("reopen_reason")?,
            })
        })
        .collect()
    }

    async fn save_rating(&self, rating: &Rating) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ratings (session_id, participant_id, role, stars, comment, at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (session_id, participant_id) DO UPDATE SET stars = excluded.stars,
               comment = excluded.comment, at = excluded.at",
        )
        .bind(rating.session_id.to_string())
        .bind(rating.participant_id.to_string())
        .bind(rating.role.as_str())
        .bind(i64::from(rating.stars))
        .bind(&rating.comment)
        .bind(timestamp(rating.at))
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn ratings(&self, session: Uuid) -> Result<Vec<Rating>, StoreError> {
        sqlx::query("SELECT * FROM ratings WHERE session_id = ? ORDER BY at, participant_id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                let stars: i64 = row.try_get("stars")?;
                Ok(Rating {
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    role: Role::from_str(&role).map_err(|e| corrupt("role", e))?,
                    stars: u8::try_from(stars).map_err(|e| corrupt("stars", e))?,
                    comment: row.try_get("comment")?,
                    at: time_col(row, "at")?,
                })
            })
            .collect()
    }

    async fn post_chat(&self, message: &ChatMessage) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_messages (id, session_id, author_id, author_name, text, at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(message.id.to_string())
        .bind(message.session_id.to_string())
        .bind(message.author_id.to_string())
        .bind(&message.author_name)
        .bind(&message.text)
        .bind(timestamp(message.at))
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn remove_chat(
        &self,
        session: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE chat_messages SET removed_at = COALESCE(removed_at, ?) WHERE id = ? AND session_id = ?",
        )
        .bind(timestamp(at))
        .bind(id.to_string())
        .bind(session.to_string())
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn chat(&self, session: Uuid) -> Result<Vec<ChatMessage>, StoreError> {
        sqlx::query("SELECT * FROM chat_messages WHERE session_id = ? ORDER BY at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let removed: Option<String> = row.try_get("removed_at")?;
                Ok(ChatMessage {
                    id: uuid_col(row, "id")?,
                    session_id: uuid_col(row, "session_id")?,
                    author_id: uuid_col(row, "author_id")?,
                    author_name: row.try_get("author_name")?,
                    text: row.try_get("text")?,
                    at: time_col(row, "at")?,
                    removed: removed.is_some(),
                })
            })
            .collect()
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        // Optimistic: read the tail, insert the next number; a concurrent append takes
        // the number first and this one retries on the primary key.
        for _ in 0..AUDIT_APPEND_ATTEMPTS {
            let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
            let tail = match &tail {
                Some(row) => Some((
                    row.try_get::<i64, _>("seq")?,
                    row.try_get::<String, _>("hash")?,
                )),
                None => None,
            };
            let next = entry.chain_after(tail.as_ref().map(|(s, h)| (*s, h.as_str())));
            let inserted = sqlx::query(
                "INSERT INTO audit_log (seq, at, session_id, actor, action, detail, prev_hash, hash)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(next.seq)
            .bind(timestamp(next.at))
            .bind(next.session_id.map(|s| s.to_string()))
            .bind(&next.actor)
            .bind(&next.action)
            .bind(&next.detail)
            .bind(&next.prev_hash)
            .bind(&next.hash)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return Ok(next),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(map_write_error(e)),
            }
        }
        Err(StoreError::Conflict(
            "the audit log is too busy; try again".into(),
        ))
    }

    async fn append_audit_batch(
        &self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // As one append: a concurrent writer (another process) that took the next
        // number makes the whole batch retry on the primary key.
        'attempt: for _ in 0..AUDIT_APPEND_ATTEMPTS {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let mut prev = match &tail {
                Some(row) => Some((
                    row.try_get::<i64, _>("seq")?,
                    row.try_get::<String, _>("hash")?,
                )),
                None => None,
            };
            let mut written = Vec::with_capacity(entries.len());
            for entry in entries {
                let next = entry.chain_after(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
                let inserted = sqlx::query(
                    "INSERT INTO audit_log (seq, at, session_id, actor, action, detail, prev_hash, hash)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(next.seq)
                .bind(timestamp(next.at))
                .bind(next.session_id.map(|s| s.to_string()))
                .bind(&next.actor)
                .bind(&next.action)
                .bind(&next.detail)
                .bind(&next.prev_hash)
                .bind(&next.hash)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue 'attempt,
                    Err(e) => return Err(map_write_error(e)),
                }
                prev = Some((next.seq, next.hash.clone()));
                written.push(next);
            }
            tx.commit().await?;
            return Ok(written);
        }
        Err(StoreError::Conflict(
            "the audit log is too busy; try again".into(),
        ))
    }

    async fn audit_log(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let session: Option<String> = row.try_get("session_id")?;
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: time_col(row, "at")?,
                    session_id: session
                        .map(|s| Uuid::parse_str(&s).map_err(|e| corrupt("session_id", e)))
                        .transpose()?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    detail: row.try_get("detail")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }

    async fn record_samples(&self, samples: &[StreamSampleRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        insert_samples(&mut tx, samples).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn samples(&self, session: Uuid) -> Result<Vec<StreamSampleRecord>, StoreError> {
        sqlx::query("SELECT * FROM stream_samples WHERE session_id = ? ORDER BY at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(StreamSampleRecord {
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    at: time_col(row, "at")?,
                    seconds: row.try_get("seconds")?,
                    direction: row.try_get("direction")?,
                    track: row.try_get("track")?,
                    packets: row.try_get("packets")?,
                    lost: row.try_get("lost")?,
                    kbps: row.try_get("kbps")?,
                    jitter_ms: row.try_get("jitter_ms")?,
                    rtt_ms: row.try_get("rtt_ms")?,
                    keyframes: row.try_get("keyframes")?,
                    freezes: row.try_get("freezes")?,
                    frames: row.try_get("frames")?,
                    nacks: row.try_get("nacks")?,
                    plis: row.try_get("plis")?,
                })
            })
            .collect()
    }

    async fn record_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO connection_events (session_id, participant_id, at, event, detail) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(event.session_id.to_string())
        .bind(event.participant_id.to_string())
        .bind(timestamp(event.at))
        .bind(&event.event)
        .bind(&event.detail)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn connection_events(&self, session: Uuid) -> Result<Vec<ConnectionEvent>, StoreError> {
        sqlx::query("SELECT * FROM connection_events WHERE session_id = ? ORDER BY at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(ConnectionEvent {
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    at: time_col(row, "at")?,
                    event: row.try_get("event")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn record_setup_check(&self, c: &crate::record::SetupCheck) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO setup_checks (id, session_id, participant_id, at, user_agent, path, rtt_ms,
             loss_percent, kbps, camera, microphone, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.to_string())
        .bind(c.session_id.to_string())
        .bind(c.participant_id.to_string())
        .bind(timestamp(c.at))
        .bind(&c.user_agent)
        .bind(&c.path)
        .bind(c.rtt_ms)
        .bind(c.loss_percent)
        .bind(c.kbps)
        .bind(c.camera)
        .bind(c.microphone)
        .bind(&c.verdict)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn setup_checks(
        &self,
        session: Uuid,
    ) -> Result<Vec<crate::record::SetupCheck>, StoreError> {
        sqlx::query("SELECT * FROM setup_checks WHERE session_id = ? ORDER BY at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(crate::record::SetupCheck {
                    id: uuid_col(row, "id")?,
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    at: time_col(row, "at")?,
                    user_agent: row.try_get("user_agent")?,
                    path: row.try_get("path")?,
                    rtt_ms: row.try_get("rtt_ms")?,
                    loss_percent: row.try_get("loss_percent")?,
                    kbps: row.try_get("kbps")?,
                    camera: row.try_get("camera")?,
                    microphone: row.try_get("microphone")?,
                    verdict: row.try_get("verdict")?,
                })
            })
            .collect()
    }

    async fn save_live_state(
        &self,
        rooms: &[crate::record::LiveRoomRecord],
        forget: &[Uuid],
        beat: crate::record::Heartbeat,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for room in rooms {
            sqlx::query(
                "INSERT INTO live_rooms (room_id, state, saved_at) VALUES (?, ?, ?)
                 ON CONFLICT (room_id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
            )
            .bind(room.room_id.to_string())
            .bind(&room.state)
            .bind(timestamp(room.saved_at))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        for room in forget {
            sqlx::query("DELETE FROM live_rooms WHERE room_id = ?")
                .bind(room.to_string())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO server_heartbeat (id, at, clean_stop) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, clean_stop = excluded.clean_stop",
        )
        .bind(timestamp(beat.at))
        .bind(beat.clean_stop)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn live_rooms(&self) -> Result<Vec<crate::record::LiveRoomRecord>, StoreError> {
        sqlx::query("SELECT * FROM live_rooms ORDER BY saved_at, room_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(crate::record::LiveRoomRecord {
                    room_id: uuid_col(row, "room_id")?,
                    state: row.try_get("state")?,
                    saved_at: time_col(row, "saved_at")?,
                })
            })
            .collect()
    }

    async fn last_heartbeat(&self) -> Result<Option<crate::record::Heartbeat>, StoreError> {
        sqlx::query("SELECT at, clean_stop FROM server_heartbeat WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| {
                Ok(crate::record::Heartbeat {
                    at: time_col(&row, "at")?,
                    clean_stop: row.try_get("clean_stop")?,
                })
            })
            .transpose()
    }

    async fn record_server_gaps(
        &self,
        gaps: &[crate::record::ServerGap],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for gap in gaps {
            sqlx::query(
                "INSERT INTO server_gaps (session_id, started_at, ended_at, planned) VALUES (?, ?, ?, ?)
                 ON CONFLICT (session_id, started_at) DO NOTHING",
            )
            .bind(gap.session_id.to_string())
            .bind(timestamp(gap.from))
            .bind(timestamp(gap.to))
            .bind(gap.planned)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn server_gaps(
        &self,
        session: Uuid,
    ) -> Result<Vec<crate::record::ServerGap>, StoreError> {
        sqlx::query("SELECT * FROM server_gaps WHERE session_id = ? ORDER BY started_at")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(crate::record::ServerGap {
                    session_id: uuid_col(row, "session_id")?,
                    from: time_col(row, "started_at")?,
                    to: time_col(row, "ended_at")?,
                    planned: row.try_get("planned")?,
                })
            })
            .collect()
    }

    async fn snapshot_into(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::External(format!(
                "{} exists already",
                dest.display()
            )));
        }
        sqlx::query("VACUUM INTO ?")
            .bind(dest.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_backup(&self, backup: &BackupRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backups (id, at, file, bytes, ok, error) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(backup.id.to_string())
        .bind(timestamp(backup.at))
        .bind(&backup.file)
        .bind(backup.bytes)
        .bind(backup.ok)
        .bind(&backup.error)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn backups(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BackupRecord>, StoreError> {
        sqlx::query("SELECT * FROM backups WHERE at >= ? AND at < ? ORDER BY at, id")
            .bind(timestamp(from))
            .bind(timestamp(to))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(BackupRecord {
                    id: uuid_col(row, "id")?,
                    at: time_col(row, "at")?,
                    file: row.try_get("file")?,
                    bytes: row.try_get("bytes")?,
                    ok: row.try_get("ok")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }

    async fn compact_samples(
        &self,
        session: Uuid,
        aggregates: &[StreamSampleRecord],
        stable: bool,
        verdict: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM stream_samples WHERE session_id = ?")
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
        insert_samples(&mut tx, aggregates).await?;
        sqlx::query(
            "INSERT INTO session_verdicts (session_id, stable, verdict, compacted_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (session_id) DO UPDATE SET stable = excluded.stable, verdict = excluded.verdict, compacted_at = excluded.compacted_at",
        )
        .bind(session.to_string())
        .bind(stable)
        .bind(verdict)
        .bind(timestamp(at))
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_verdict(&self, session: Uuid) -> Result<Option<(bool, String)>, StoreError> {
        let row = sqlx::query("SELECT stable, verdict FROM session_verdicts WHERE session_id = ?")
            .bind(session.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get("stable")?, r.try_get("verdict")?)))
            .transpose()
    }

    async fn create_recording(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (id, session_id, started_at, stopped_at, state, error) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(r.id.to_string())
        .bind(r.session_id.to_string())
        .bind(timestamp(r.started_at))
        .bind(r.stopped_at.map(timestamp))
        .bind(&r.state)
        .bind(&r.error)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn update_recording(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE recordings SET stopped_at = ?, state = ?, error = ? WHERE id = ?")
                .bind(r.stopped_at.map(timestamp))
                .bind(&r.state)
                .bind(&r.error)
                .bind(r.id.to_string())
                .execute(&self.pool)
                .await
                .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn recording(&self, id: Uuid) -> Result<Option<RecordingRecord>, StoreError> {
        sqlx::query("SELECT * FROM recordings WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(recording_from_row)
            .transpose()
    }

    async fn recordings_of_session(
        &self,
        session: Uuid,
    ) -> Result<Vec<RecordingRecord>, StoreError> {
        sqlx::query("SELECT * FROM recordings WHERE session_id = ? ORDER BY started_at, id")
            .bind(session.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(recording_from_row)
            .collect()
    }

    async fn recordings_in_state(&self, state: &str) -> Result<Vec<RecordingRecord>, StoreError> {
        sqlx::query("SELECT * FROM recordings WHERE state = ? ORDER BY started_at, id")
            .bind(state)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(recording_from_row)
            .collect()
    }

    async fn add_recording_part(&self, p: &RecordingPart) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_parts (id, recording_id, participant, source, codec, idx, \
             path, offset_ms, opened_at, closed, clean, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(p.id.to_string())
        .bind(p.recording_id.to_string())
        .bind(&p.participant)
        .bind(&p.source)
        .bind(&p.codec)
        .bind(p.index)
        .bind(&p.path)
        .bind(p.offset_ms)
        .bind(timestamp(p.opened_at))
        .bind(p.closed)
        .bind(p.clean)
        .bind(p.bytes)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn close_recording_part(
        &self,
        path: &str,
        bytes: i64,
        clean: bool,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recording_parts SET closed = TRUE, bytes = ?, clean = ? WHERE path = ?",
        )
        .bind(bytes)
        .bind(clean)
        .bind(path)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_parts(&self, recording: Uuid) -> Result<Vec<RecordingPart>, StoreError> {
        sqlx::query(
            "SELECT * FROM recording_parts WHERE recording_id = ? ORDER BY offset_ms, participant, source",
        )
        .bind(recording.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(RecordingPart {
                id: uuid_col(row, "id")?,
                recording_id: uuid_col(row, "recording_id")?,
                participant: row.try_get("participant")?,
                source: row.try_get("source")?,
                codec: row.try_get("codec")?,
                index: row.try_get("idx")?,
                path: row.try_get("path")?,
                offset_ms: row.try_get("offset_ms")?,
                opened_at: time_col(row, "opened_at")?,
                closed: row.try_get("closed")?,
                clean: row.try_get("clean")?,
                bytes: row.try_get("bytes")?,
            })
        })
        .collect()
    }

    async fn save_production_job(&self, j: &ProductionJob) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO production_jobs (id, recording_id, state, attempts, progress, error, \
             outputs, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
             state = excluded.state, attempts = excluded.attempts, progress = excluded.progress, \
             error = excluded.error, outputs = excluded.outputs, updated_at = excluded.updated_at",
        )
        .bind(j.id.to_string())
        .bind(j.recording_id.to_string())
        .bind(&j.state)
        .bind(j.attempts)
        .bind(j.progress)
        .bind(&j.error)
        .bind(&j.outputs)
        .bind(timestamp(j.updated_at))
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn production_jobs(&self, state: &str) -> Result<Vec<ProductionJob>, StoreError> {
        sqlx::query("SELECT * FROM production_jobs WHERE state = ? ORDER BY updated_at, id")
            .bind(state)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    async fn production_job_of(
        &self,
        recording: Uuid,
    ) -> Result<Option<ProductionJob>, StoreError> {
        sqlx::query("SELECT * FROM production_jobs WHERE recording_id = ?")
            .bind(recording.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn set_recording_policy(&self, session: Uuid, record: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_policies (session_id, record) VALUES (?, ?) \
             ON CONFLICT (session_id) DO UPDATE SET record = excluded.record",
        )
        .bind(session.to_string())
        .bind(record)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_policy(&self, session: Uuid) -> Result<Option<bool>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT record FROM recording_policies WHERE session_id = ?")
                .bind(session.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn publish_help_video(&self, v: &HelpVideo) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO help_videos (id, recording_id, title, description, tags, category, \
             envoy, published_by, published_at, views) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(v.id.to_string())
        .bind(v.recording_id.to_string())
        .bind(&v.title)
        .bind(&v.description)
        .bind(serde_json::to_string(&v.tags).unwrap_or_else(|_| "[]".into()))
        .bind(&v.category)
        .bind(&v.envoy)
        .bind(&v.published_by)
        .bind(timestamp(v.published_at))
        .bind(v.views)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn help_video(&self, id: Uuid) -> Result<Option<HelpVideo>, StoreError> {
        sqlx::query("SELECT * FROM help_videos WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(help_video_from_row)
            .transpose()
    }

    async fn help_videos(
        &self,
        search: &str,
        category: Option<&str>,
    ) -> Result<Vec<HelpVideo>, StoreError> {
        // LIKE's wildcards in the search text are taken literally.
        let escaped = search
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        sqlx::query(
            "SELECT * FROM help_videos WHERE \
             (title LIKE ?1 ESCAPE '\\' OR description LIKE ?1 ESCAPE '\\' \
              OR tags LIKE ?1 ESCAPE '\\' OR envoy LIKE ?1 ESCAPE '\\') \
             AND (?2 IS NULL OR category = ?2) \
             ORDER BY published_at DESC, id",
        )
        .bind(&pattern)
        .bind(category)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(help_video_from_row)
        .collect()
    }

    async fn count_help_video_view(
        &self,
        video: Uuid,
        day: chrono::NaiveDate,
        viewer: Uuid,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Writing first takes SQLite's write lock at once (no upgrade to fail).
        sqlx::query("DELETE FROM help_video_viewers WHERE video_id = ? AND day < ?")
            .bind(video.to_string())
            .bind(day.pred_opt().unwrap_or(day).to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        let exists = sqlx::query("SELECT 1 FROM help_videos WHERE id = ?")
            .bind(video.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let first = sqlx::query(
            "INSERT INTO help_video_viewers (video_id, day, viewer) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(video.to_string())
        .bind(day.to_string())
        .bind(viewer.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?
        .rows_affected()
            == 1;
        if first {
            sqlx::query("UPDATE help_videos SET views = views + 1 WHERE id = ?")
                .bind(video.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
            sqlx::query(
                "INSERT INTO help_video_views (video_id, day, views) VALUES (?, ?, 1) \
                 ON CONFLICT (video_id, day) DO UPDATE SET views = help_video_views.views + 1",
            )
            .bind(video.to_string())
            .bind(day.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(first)
    }

    async fn help_video_views(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<(Uuid, chrono::NaiveDate, i64)>, StoreError> {
        sqlx::query(
            "SELECT video_id, day, views FROM help_video_views WHERE day >= ? AND day < ? \
             ORDER BY day, video_id",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                uuid_col(row, "video_id")?,
                row.try_get::<String, _>("day")?
                    .parse()
                    .map_err(|e| corrupt("day", e))?,
                row.try_get("views")?,
            ))
        })
        .collect()
    }

    async fn expire_recording(&self, recording: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_expiries (recording_id, expired_at) VALUES (?, ?) \
             ON CONFLICT (recording_id) DO NOTHING",
        )
        .bind(recording.to_string())
        .bind(timestamp(at))
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_expired(
        &self,
        recording: Uuid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let raw: Option<String> =
            sqlx::query_scalar("SELECT expired_at FROM recording_expiries WHERE recording_id = ?")
                .bind(recording.to_string())
                .fetch_optional(&self.pool)
                .await?;
        raw.map(|r| {
            DateTime::parse_from_rfc3339(&r)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt("expired_at", e))
        })
        .transpose()
    }
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
