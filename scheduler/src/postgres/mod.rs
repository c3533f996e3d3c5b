//! The PostgreSQL backend, for deployments beyond one machine. Same behaviour as the
//! SQLite backend (one conformance suite runs against both); double booking is made
//! impossible by the `resource_claims_no_overlap` exclusion constraint.
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
use chrono::{DateTime, Duration, Utc};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow};
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

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Kept for `pg_dump`; never logged (it may hold a password).
    url: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A PostgreSQL client tool (`pg_dump`, `pg_restore`) for the database at `url`, with
/// the password handed over in `PGPASSWORD` and the rest of the URL as `--dbname`: a
/// command line is readable by every user of the machine (`ps`), the environment only
/// by the process's owner.
pub fn tool_command(program: &str, url: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let mut password = parsed.password().map(|p| {
                url::form_urlencoded::parse(format!("p={p}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            });
            let _ = parsed.set_password(None);
            // `?password=` is accepted by libpq too.
            let rest: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, v)| {
                    if k == "password" {
                        password = Some(v.to_string());
                        false
                    } else {
                        true
                    }
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if rest.is_empty() {
                parsed.set_query(None);
            } else {
                parsed.query_pairs_mut().clear().extend_pairs(rest);
            }
            if let Some(password) = password {
                command.env("PGPASSWORD", password);
            }
            command.arg(format!("--dbname={parsed}"));
        }
        // Not a URL the parser takes (libpq also allows `postgres://user@/db?host=/run`):
        // only a `password=` query field is taken out.
        Err(_) => {
            let (base, query) = url.split_once('?').unwrap_or((url, ""));
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                match pair.strip_prefix("password=") {
                    Some(password) => {
                        command.env("PGPASSWORD", password);
                    }
                    None => kept.push(pair),
                }
            }
            let dbname = if kept.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
            command.arg(format!("--dbname={dbname}"));
        }
    }
    command
}

impl PgStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await?;
        MIGRATIONS
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.into()))?;
        Ok(Self {
            pool,
            url: url.to_owned(),
        })
    }
}

const SESSION_COLUMNS: &str = "id, title, kind, starts_at, duration_minutes, time_zone, project_id, room_id, buffer_minutes, sequence, cancelled_at, presentation_minutes, qa_minutes, deliberation_minutes, panel_id, defense_day_id";
const PARTICIPANT_COLUMNS: &str =
    "id, session_id, display_name, role, person_id, link_generation, removed_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn session_from_row(row: &PgRow) -> Result<Session, StoreError> {
    let kind: String = row.try_get("kind")?;
    Ok(Session {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        kind: SessionKind::from_str(&kind).map_err(|e| corrupt("kind", e))?,
        starts_at: row.try_get("starts_at")?,
        duration_minutes: i64::from(row.try_get::<i32, _>("duration_minutes")?),
        time_zone: row.try_get("time_zone")?,
        project_id: row.try_get("project_id")?,
        room_id: row.try_get("room_id")?,
        buffer_minutes: i64::from(row.try_get::<i32, _>("buffer_minutes")?),
        sequence: i64::from(row.try_get::<i32, _>("sequence")?),
        cancelled: row
            .try_get::<Option<DateTime<Utc>>, _>("cancelled_at")?
            .is_some(),
        agenda: match (
            row.try_get::<Option<i32>, _>("presentation_minutes")?,
            row.try_get::<Option<i32>, _>("qa_minutes")?,
            row.try_get::<Option<i32>, _>("deliberation_minutes")?,
        ) {
            (Some(p), Some(q), Some(d)) => Some(crate::domain::Agenda {
                presentation_minutes: i64::from(p),
                qa_minutes: i64::from(q),
                deliberation_minutes: i64::from(d),
            }),
            _ => None,
        },
        panel_id: row.try_get("panel_id")?,
        defense_day_id: row.try_get("defense_day_id")?,
    })
}

fn participant_from_row(row: &PgRow) -> Result<Participant, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(Participant {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        name: row.try_get("display_name")?,
        role: Role::from_str(&role).map_err(|e| corrupt("role", e))?,
        person_id: row.try_get("person_id")?,
        link_generation: u32::try_from(row.try_get::<i32, _>("link_generation")?)
            .map_err(|e| corrupt("link_generation", e))?,
        removed: row
            .try_get::<Option<chrono::DateTime<Utc>>, _>("removed_at")?
            .is_some(),
    })
}

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

/// Which integrity rule refused a write, if any.
fn integrity_refusal(e: &sqlx::Error) -> Option<&'static str> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    match (db.code().as_deref(), db.constraint()) {
        (Some("23P01"), _) => Some("double_booking"),
        (_, Some("participants_no_conflict_of_interest")) => Some("conflict_of_interest"),
        _ if db.message() == "conflict_of_interest" => Some("conflict_of_interest"),
        _ => None,
    }
}

/// Whether a transaction failed only because of concurrency and may simply be run again.
/// (The advisory locks in [`PgStore::lock_resources`] should make this rare.)
fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// How often a booking transaction is attempted before a concurrency failure is final.
const BOOKING_ATTEMPTS: usize = 3;

async fn backoff(attempt: usize) {
    let jitter = rand_jitter_ms();
    tokio::time::sleep(std::time::Duration::from_millis(
        (attempt as u64 + 1) * 5 + jitter,
    ))
    .await;
}

fn rand_jitter_ms() -> u64 {
    // Sub-millisecond clock noise is enough to de-synchronise retries.
    u64::from(Utc::now().timestamp_subsec_micros() % 10)
}

struct Claim {
    resource: String,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
}

fn claims_of(new: &NewSession) -> Vec<Claim> {
    let (from, until) = (new.starts_at, new.held_until());
    let mut claims: Vec<Claim> = new
        .participants
        .iter()
        .filter(|p| role_claims_time(p.role))
        .filter_map(|p| p.person)
        .map(|id| Claim {
            resource: person_resource(id),
            from,
            until,
        })
        .collect();
    if let Some(room) = new.room {
        claims.push(Claim {
            resource: room_resource(room),
            from,
            until,
        });
    }
    claims.sort_by(|a, b| a.resource.cmp(&b.resource));
    claims.dedup_by(|a, b| a.resource == b.resource);
    claims
}

impl PgStore {
    async fn check_panel_size(tx: &mut PgConnection, new: &NewSession) -> Result<(), StoreError> {
        let Some(project) = new.project else {
            return Ok(());
        };
        let row = sqlx::query(
            "SELECT g.name, g.min_panel_size, g.max_panel_size FROM projects p
             JOIN programmes g ON g.id = p.programme_id WHERE p.id = $1",
        )
        .bind(project)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let programme: String = row.try_get(0)?;
        let (min, max) = (
            i64::from(row.try_get::<i32, _>(1)?),
            i64::from(row.try_get::<i32, _>(2)?),
        );
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

    async fn describe_double_booking(&self, session: Uuid, claims: &[Claim]) -> StoreError {
        for claim in claims {
            let other = sqlx::query(
                "SELECT c.session_id, s.title, lower(c.during) AS from_, upper(c.during) AS until
                 FROM resource_claims c JOIN sessions s ON s.id = c.session_id
                 WHERE c.resource = $1 AND c.session_id <> $2 AND c.during && tstzrange($3, $4)
                 ORDER BY lower(c.during) LIMIT 1",
            )
            .bind(&claim.resource)
            .bind(session)
            .bind(claim.from)
            .bind(claim.until)
            .fetch_optional(&self.pool)
            .await;
            let Ok(Some(row)) = other else { continue };
            return BookingConflict::DoubleBooked {
                resource: self.resource_name(&claim.resource).await,
                other_session: row.try_get("session_id").unwrap_or_default(),
                other_title: row.try_get("title").unwrap_or_default(),
                from: row
                    .try_get::<DateTime<Utc>, _>("from_")
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                until: row
                    .try_get::<DateTime<Utc>, _>("until")
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
            }
            .into();
        }
        StoreError::Conflict("a participant or the room was booked concurrently; try again".into())
    }

    async fn resource_name(&self, resource: &str) -> String {
        let (table, id) = match resource.split_once(':') {
            Some(("person", id)) => ("people", id),
            Some(("room", id)) => ("rooms", id),
            _ => return resource.to_owned(),
        };
        let Ok(id) = Uuid::parse_str(id) else {
            return resource.to_owned();
        };
        sqlx::query_scalar::<_, String>(&format!("SELECT name FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| resource.to_owned())
    }

    async fn describe_conflict_of_interest(&self, new: &NewSession) -> StoreError {
        for p in new.participants.iter().filter(|p| p.role == Role::Expert) {
            let Some(person) = p.person else { continue };
            let hit = sqlx::query(
                "SELECT pr.code FROM projects pr JOIN people e ON e.id = $1
                 WHERE pr.id = $2 AND (e.organisation_id = pr.organisation_id OR EXISTS (
                   SELECT 1 FROM conflicts_of_interest c WHERE c.expert_id = e.id
                   AND (c.project_id = pr.id OR c.organisation_id = pr.organisation_id)))",
            )
            .bind(person)
            .bind(new.project)
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

    /// Queues this transaction behind any other one claiming the same people or rooms.
    ///
    /// Two bookings racing for one resource would each insert their exclusion-index
    /// entry and then wait for the other's, which PostgreSQL resolves as a deadlock after
    /// `deadlock_timeout` (1 s): measured here, 27–38 of 100 concurrent requests failed
    /// that way. Transaction-scoped advisory locks taken in one global order (claims are
    /// sorted) make the racers queue instead; the later one then meets the committed
    /// claim and the exclusion constraint refuses it cleanly. The constraint stays the
    /// guarantee; the locks only order the contention.
    async fn lock_resources(tx: &mut PgConnection, claims: &[Claim]) -> Result<(), sqlx::Error> {
        for claim in claims {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&claim.resource)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    async fn write_booking(
        tx: &mut PgConnection,
        session: &Session,
        new: &NewSession,
        claims: &[Claim],
    ) -> Result<Vec<Participant>, sqlx::Error> {
        Self::lock_resources(&mut *tx, claims).await?;
        sqlx::query(
            "INSERT INTO sessions (id, title, kind, starts_at, duration_minutes, time_zone,
                                   project_id, room_id, buffer_minutes,
                                   presentation_minutes, qa_minutes, deliberation_minutes,
                                   panel_id, defense_day_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(session.id)
        .bind(&session.title)
        .bind(session.kind.as_str())
        .bind(session.starts_at)
        .bind(session.duration_minutes as i32)
        .bind(&session.time_zone)
        .bind(session.project_id)
        .bind(session.room_id)
        .bind(session.buffer_minutes as i32)
        .bind(session.agenda.map(|a| a.presentation_minutes as i32))
        .bind(session.agenda.map(|a| a.qa_minutes as i32))
        .bind(session.agenda.map(|a| a.deliberation_minutes as i32))
        .bind(session.panel_id)
        .bind(session.defense_day_id)
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
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(participant.id)
            .bind(session.id)
            .bind(&participant.name)
            .bind(participant.role.as_str())
            .bind(position as i32)
            .bind(p.person)
            .execute(&mut *tx)
            .await?;
            participants.push(participant);
        }
        for claim in claims {
            sqlx::query(
                "INSERT INTO resource_claims (session_id, resource, during) VALUES ($1, $2, tstzrange($3, $4))",
            )
            .bind(session.id)
            .bind(&claim.resource)
            .bind(claim.from)
            .bind(claim.until)
            .execute(&mut *tx)
            .await?;
        }
        Ok(participants)
    }
}

/// Inserts interval samples inside a transaction.
async fn insert_samples(
    tx: &mut sqlx::PgConnection,
    samples: &[StreamSampleRecord],
) -> Result<(), StoreError> {
    for s in samples {
        sqlx::query(
                "INSERT INTO stream_samples (session_id, participant_id, at, seconds, direction, track, packets, lost, kbps, jitter_ms, rtt_ms, keyframes, freezes, frames, nacks, plis)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(s.session_id)
            .bind(s.participant_id)
            .bind(s.at)
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

fn help_video_from_row(row: &PgRow) -> Result<HelpVideo, StoreError> {
    let tags: String = row.try_get("tags")?;
    Ok(HelpVideo {
        id: row.try_get("id")?,
        recording_id: row.try_get("recording_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        tags: serde_json::from_str(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
        category: row.try_get("category")?,
        envoy: row.try_get("envoy")?,
        published_by: row.try_get("published_by")?,
        published_at: row.try_get("published_at")?,
        views: row.try_get("views")?,
    })
}

fn recording_from_row(row: &PgRow) -> Result<RecordingRecord, StoreError> {
    Ok(RecordingRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        started_at: row.try_get("started_at")?,
        stopped_at: row.try_get("stopped_at")?,
        state: row.try_get("state")?,
        error: row.try_get("error")?,
    })
}

fn job_from_row(row: &PgRow) -> Result<ProductionJob, StoreError> {
    Ok(ProductionJob {
        id: row.try_get("id")?,
        recording_id: row.try_get("recording_id")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        progress: row.try_get("progress")?,
        error: row.try_get("error")?,
        outputs: row.try_get("outputs")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(command: &tokio::process::Command) -> Vec<String> {
        command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn password_env(command: &tokio::process::Command) -> Option<String> {
        command
            .as_std()
            .get_envs()
            .find(|(k, _)| *k == "PGPASSWORD")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    #[test]
    fn a_database_password_never_reaches_the_command_line() {
        let c = tool_command(
            "pg_dump",
            "postgres://viva:s%40cret@db.example.org:5432/viva?sslmode=require",
        );
        let args = argv(&c).join(" ");
        assert!(!args.contains("cret"), "{args}");
        assert!(
            args.contains("viva@db.example.org:5432/viva?sslmode=require"),
            "{args}"
        );
        assert_eq!(password_env(&c).as_deref(), Some("s@cret"));
        let q = tool_command(
            "pg_restore",
            "postgres://viva@/viva?host=/run/pg&password=hunter22",
        );
        assert!(!argv(&q).join(" ").contains("hunter22"));
        assert_eq!(password_env(&q).as_deref(), Some("hunter22"));
        let none = tool_command("pg_dump", "postgres://viva@localhost/viva");
        assert_eq!(password_env(&none), None);
    }
}
