//! SQLite: recordings, their parts on disk, post-production jobs and retention.

use super::*;

#[async_trait]
impl RecordingStore for SqliteStore {
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
