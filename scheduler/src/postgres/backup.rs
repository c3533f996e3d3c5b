//! PostgreSQL: consistent snapshots of the database and the record of backups taken.

use super::*;

#[async_trait]
impl BackupStore for PgStore {
    async fn snapshot_into(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::External(format!(
                "{} exists already",
                dest.display()
            )));
        }
        // pg_dump takes a consistent snapshot (one repeatable-read transaction).
        let out = tool_command("pg_dump", &self.url)
            .arg("--format=custom")
            .arg("--no-owner")
            .arg(format!("--file={}", dest.display()))
            .output()
            .await
            .map_err(|e| {
                StoreError::External(format!(
                    "pg_dump could not run (install postgresql-client): {e}"
                ))
            })?;
        if !out.status.success() {
            let mut reason = String::from_utf8_lossy(&out.stderr).into_owned();
            reason.truncate(500);
            return Err(StoreError::External(format!("pg_dump failed: {reason}")));
        }
        Ok(())
    }

    async fn record_backup(&self, backup: &BackupRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO backups (id, at, file, bytes, ok, error) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(backup.id)
        .bind(backup.at)
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
        sqlx::query("SELECT * FROM backups WHERE at >= $1 AND at < $2 ORDER BY at, id")
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(BackupRecord {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    file: row.try_get("file")?,
                    bytes: row.try_get("bytes")?,
                    ok: row.try_get("ok")?,
                    error: row.try_get("error")?,
                })
            })
            .collect()
    }
}
