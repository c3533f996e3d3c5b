//! PostgreSQL: published help videos and their views.

use super::*;

#[async_trait]
impl HelpVideoStore for PgStore {
    async fn publish_help_video(&self, v: &HelpVideo) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO help_videos (id, recording_id, title, description, tags, category, \
             envoy, published_by, published_at, views) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(v.id)
        .bind(v.recording_id)
        .bind(&v.title)
        .bind(&v.description)
        .bind(serde_json::to_string(&v.tags).unwrap_or_else(|_| "[]".into()))
        .bind(&v.category)
        .bind(&v.envoy)
        .bind(&v.published_by)
        .bind(v.published_at)
        .bind(v.views)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn help_video(&self, id: Uuid) -> Result<Option<HelpVideo>, StoreError> {
        sqlx::query("SELECT * FROM help_videos WHERE id = $1")
            .bind(id)
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
             (title ILIKE $1 ESCAPE '\\' OR description ILIKE $1 ESCAPE '\\' \
              OR tags ILIKE $1 ESCAPE '\\' OR envoy ILIKE $1 ESCAPE '\\') \
             AND ($2::text IS NULL OR category = $2) \
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
        sqlx::query("DELETE FROM help_video_viewers WHERE video_id = $1 AND day < $2")
            .bind(video)
            .bind(day.pred_opt().unwrap_or(day))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        let exists = sqlx::query("SELECT 1 FROM help_videos WHERE id = $1")
            .bind(video)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let first = sqlx::query(
            "INSERT INTO help_video_viewers (video_id, day, viewer) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(video)
        .bind(day)
        .bind(viewer)
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?
        .rows_affected()
            == 1;
        if first {
            sqlx::query("UPDATE help_videos SET views = views + 1 WHERE id = $1")
                .bind(video)
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
            sqlx::query(
                "INSERT INTO help_video_views (video_id, day, views) VALUES ($1, $2, 1) \
                 ON CONFLICT (video_id, day) DO UPDATE SET views = help_video_views.views + 1",
            )
            .bind(video)
            .bind(day)
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
            "SELECT video_id, day, views FROM help_video_views WHERE day >= $1 AND day < $2 \
             ORDER BY day, video_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("video_id")?,
                row.try_get("day")?,
                row.try_get("views")?,
            ))
        })
        .collect()
    }
}
