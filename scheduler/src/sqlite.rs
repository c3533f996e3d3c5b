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
use crate::store::{Store, StoreError, UserRecord};

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
    })
}

fn participant_from_row(row: &SqliteRow) -> Result<Participant, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(Participant {
        id: uuid_col(row, "id")?,
        session_id: uuid_col(row, "session_id")?,
        name: row.try_get("display_name")?,
        role: Role::from_str(&role).map_err(|e| corrupt("role", e))?,
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
    StoreError::Database(e)
}

const SESSION_COLUMNS: &str = "id, title, kind, starts_at, duration_minutes, time_zone";

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
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, title, kind, starts_at, duration_minutes, time_zone, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id.to_string())
        .bind(&session.title)
        .bind(session.kind.as_str())
        .bind(session.starts_at.to_rfc3339())
        .bind(session.duration_minutes)
        .bind(&session.time_zone)
        .bind(Utc::now().to_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        let mut participants = Vec::with_capacity(new.participants.len());
        for (position, p) in new.participants.iter().enumerate() {
            let participant = Participant {
                id: Uuid::new_v4(),
                session_id: session.id,
                name: p.name.as_str().to_owned(),
                role: p.role,
            };
            sqlx::query(
                "INSERT INTO session_participants (id, session_id, display_name, role, position)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(participant.id.to_string())
            .bind(session.id.to_string())
            .bind(&participant.name)
            .bind(participant.role.as_str())
            .bind(position as i64)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
            participants.push(participant);
        }
        tx.commit().await?;
        Ok((session, participants))
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
        sqlx::query(
            "SELECT id, session_id, display_name, role FROM session_participants
             WHERE session_id = ? ORDER BY position",
        )
        .bind(session_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(participant_from_row)
        .collect()
    }

    async fn participant(&self, id: Uuid) -> Result<Participant, StoreError> {
        let row = sqlx::query(
            "SELECT id, session_id, display_name, role FROM session_participants WHERE id = ?",
        )
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
                },
                NewParticipant {
                    name: PersonName::parse("申请人").unwrap(),
                    role: Role::Applicant,
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
