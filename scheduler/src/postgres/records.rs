//! PostgreSQL: what a session leaves behind: agenda phases, score sheets and their criteria, ratings, chat.

use super::*;

#[async_trait]
impl SessionRecordStore for PgStore {
    async fn record_phase(
        &self,
        session: Uuid,
        phase: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO phase_changes (session_id, phase, at) VALUES ($1, $2, $3)")
            .bind(session)
            .bind(phase)
            .bind(at)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(())
    }

    async fn phases(&self, session: Uuid) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        sqlx::query("SELECT phase, at FROM phase_changes WHERE session_id = $1 ORDER BY at, id")
            .bind(session)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("phase")?, row.try_get("at")?)))
            .collect()
    }

    async fn session_criteria(&self, session: Uuid) -> Result<Vec<Criterion>, StoreError> {
        let row = sqlx::query(
            "SELECT g.criteria FROM sessions s JOIN projects p ON p.id = s.project_id
             JOIN programmes g ON g.id = p.programme_id WHERE s.id = $1",
        )
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        let raw: Option<serde_json::Value> = match row {
            Some(row) => row.try_get("criteria")?,
            None => None,
        };
        match raw {
            Some(json) => serde_json::from_value(json).map_err(|e| corrupt("criteria", e)),
            None => Ok(Criterion::defaults()),
        }
    }

    async fn save_score_sheet(&self, sheet: &ScoreSheetRecord) -> Result<(), StoreError> {
        let scores = serde_json::to_value(&sheet.scores).map_err(|e| corrupt("scores", e))?;
        sqlx::query(
            "INSERT INTO score_sheets (session_id, expert_id, scores, comment, submitted_at, locked, reopen_reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (session_id, expert_id) DO UPDATE SET scores = excluded.scores,
               comment = excluded.comment, submitted_at = excluded.submitted_at,
               locked = excluded.locked, reopen_reason = score_sheets.reopen_reason",
        )
        .bind(sheet.session_id)
        .bind(sheet.expert_id)
        .bind(scores)
        .bind(&sheet.comment)
        .bind(sheet.submitted_at)
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
            "UPDATE score_sheets SET locked = FALSE, reopen_reason = $1 WHERE session_id = $2 AND expert_id = $3",
        )
        .bind(reason)
        .bind(session)
        .bind(expert)
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
             WHERE s.session_id = $1 ORDER BY p.position",
        )
        .bind(session)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let scores: serde_json::Value = row.try_get("scores")?;
            Ok(ScoreSheetRecord {
                session_id: row.try_get("session_id")?,
                expert_id: row.try_get("expert_id")?,
                scores: serde_json::from_value(scores).map_err(|e| corrupt("scores", e))?,
                comment: row.try_get("comment")?,
                submitted_at: row.try_get("submitted_at")?,
                locked: row.try_get("locked")?,
                reopen_reason: row.try_get("reopen_reason")?,
            })
        })
        .collect()
    }

    async fn save_rating(&self, rating: &Rating) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO ratings (session_id, participant_id, role, stars, comment, at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (session_id, participant_id) DO UPDATE SET stars = excluded.stars,
               comment = excluded.comment, at = excluded.at",
        )
        .bind(rating.session_id)
        .bind(rating.participant_id)
        .bind(rating.role.as_str())
        .bind(i16::from(rating.stars))
        .bind(&rating.comment)
        .bind(rating.at)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn ratings(&self, session: Uuid) -> Result<Vec<Rating>, StoreError> {
        sqlx::query("SELECT * FROM ratings WHERE session_id = $1 ORDER BY at, participant_id")
            .bind(session)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                let stars: i16 = row.try_get("stars")?;
                Ok(Rating {
                    session_id: row.try_get("session_id")?,
                    participant_id: row.try_get("participant_id")?,
                    role: Role::from_str(&role).map_err(|e| corrupt("role", e))?,
                    stars: u8::try_from(stars).map_err(|e| corrupt("stars", e))?,
                    comment: row.try_get("comment")?,
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    async fn post_chat(&self, message: &ChatMessage) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO chat_messages (id, session_id, author_id, author_name, text, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(message.id)
        .bind(message.session_id)
        .bind(message.author_id)
        .bind(&message.author_name)
        .bind(&message.text)
        .bind(message.at)
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
            "UPDATE chat_messages SET removed_at = COALESCE(removed_at, $1) WHERE id = $2 AND session_id = $3",
        )
        .bind(at)
        .bind(id)
        .bind(session)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn chat(&self, session: Uuid) -> Result<Vec<ChatMessage>, StoreError> {
        sqlx::query("SELECT * FROM chat_messages WHERE session_id = $1 ORDER BY at, id")
            .bind(session)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let removed: Option<DateTime<Utc>> = row.try_get("removed_at")?;
                Ok(ChatMessage {
                    id: row.try_get("id")?,
                    session_id: row.try_get("session_id")?,
                    author_id: row.try_get("author_id")?,
                    author_name: row.try_get("author_name")?,
                    text: row.try_get("text")?,
                    at: row.try_get("at")?,
                    removed: removed.is_some(),
                })
            })
            .collect()
    }
}
