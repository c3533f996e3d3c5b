//! SQLite: published help videos and their views.

use super::*;

#[async_trait]
impl HelpVideoStore for SqliteStore {
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
}
