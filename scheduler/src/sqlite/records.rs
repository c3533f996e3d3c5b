//! SQLite: what a session leaves behind: agenda phases, score sheets and their criteria, ratings, chat.

use super::*;

#[async_trait]
impl SessionRecordStore for SqliteStore {
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
}
