//! PostgreSQL: recordings, their parts on disk, post-production jobs and retention.

use super::*;

#[async_trait]
impl RecordingStore for PgStore {
    async fn create_recording(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (id, session_id, started_at, stopped_at, state, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id)
        .bind(r.session_id)
        .bind(r.started_at)
        .bind(r.stopped_at)
        .bind(&r.state)
        .bind(&r.error)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn update_recording(&self, r: &RecordingRecord) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE recordings SET stopped_at = $1, state = $2, error = $3 WHERE id = $4",
        )
        .bind(r.stopped_at)
        .bind(&r.state)
        .bind(&r.error)
        .bind(r.id)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn recording(&self, id: Uuid) -> Result<Option<RecordingRecord>, StoreError> {
        sqlx::query("SELECT * FROM recordings WHERE id = $1")
            .bind(id)
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
        sqlx::query("SELECT * FROM recordings WHERE session_id = $1 ORDER BY started_at, id")
            .bind(session)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(recording_from_row)
            .collect()
    }

    async fn recordings_in_state(&self, state: &str) -> Result<Vec<RecordingRecord>, StoreError> {
        sqlx::query("SELECT * FROM recordings WHERE state = $1 ORDER BY started_at, id")
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
             path, offset_ms, opened_at, closed, clean, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(p.id)
        .bind(p.recording_id)
        .bind(&p.participant)
        .bind(&p.source)
        .bind(&p.codec)
        .bind(p.index)
        .bind(&p.path)
        .bind(p.offset_ms)
        .bind(p.opened_at)
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
            "UPDATE recording_parts SET closed = TRUE, bytes = $1, clean = $2 WHERE path = $3",
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
            "SELECT * FROM recording_parts WHERE recording_id = $1 ORDER BY offset_ms, participant, source",
        )
        .bind(recording)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(RecordingPart {
                id: row.try_get("id")?,
                recording_id: row.try_get("recording_id")?,
                participant: row.try_get("participant")?,
                source: row.try_get("source")?,
                codec: row.try_get("codec")?,
                index: row.try_get("idx")?,
                path: row.try_get("path")?,
                offset_ms: row.try_get("offset_ms")?,
                opened_at: row.try_get("opened_at")?,
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
             outputs, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET \
             state = excluded.state, attempts = excluded.attempts, progress = excluded.progress, \
             error = excluded.error, outputs = excluded.outputs, updated_at = excluded.updated_at",
        )
        .bind(j.id)
        .bind(j.recording_id)
        .bind(&j.state)
        .bind(j.attempts)
        .bind(j.progress)
        .bind(&j.error)
        .bind(&j.outputs)
        .bind(j.updated_at)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn production_jobs(&self, state: &str) -> Result<Vec<ProductionJob>, StoreError> {
        sqlx::query("SELECT * FROM production_jobs WHERE state = $1 ORDER BY updated_at, id")
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
        sqlx::query("SELECT * FROM production_jobs WHERE recording_id = $1")
            .bind(recording)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_from_row)
            .transpose()
    }

    async fn expire_recording(&self, recording: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_expiries (recording_id, expired_at) VALUES ($1, $2) \
             ON CONFLICT (recording_id) DO NOTHING",
        )
        .bind(recording)
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_expired(
        &self,
        recording: Uuid,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT expired_at FROM recording_expiries WHERE recording_id = $1")
                .bind(recording)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
