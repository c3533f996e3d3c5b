//! SQLite: consistent snapshots of the database and the record of backups taken.

use super::*;

#[async_trait]
impl BackupStore for SqliteStore {
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
}
