//! SQLite: stream statistics: interval samples, connection events, set-up checks, server gaps, their compaction and the stored verdicts.

use super::*;

#[async_trait]
impl SampleStore for SqliteStore {
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
}
