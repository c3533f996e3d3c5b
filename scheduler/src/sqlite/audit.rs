//! SQLite: the append-only, numbered audit log.

use super::*;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        // Optimistic: read the tail, insert the next number; a concurrent append takes
        // the number first and this one retries on the primary key.
        for _ in 0..AUDIT_APPEND_ATTEMPTS {
            let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
            let tail = match &tail {
                Some(row) => Some((
                    row.try_get::<i64, _>("seq")?,
                    row.try_get::<String, _>("hash")?,
                )),
                None => None,
            };
            let next = entry.chain_after(tail.as_ref().map(|(s, h)| (*s, h.as_str())));
            let inserted = sqlx::query(
                "INSERT INTO audit_log (seq, at, session_id, actor, action, detail, prev_hash, hash)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(next.seq)
            .bind(timestamp(next.at))
            .bind(next.session_id.map(|s| s.to_string()))
            .bind(&next.actor)
            .bind(&next.action)
            .bind(&next.detail)
            .bind(&next.prev_hash)
            .bind(&next.hash)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(_) => return Ok(next),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(map_write_error(e)),
            }
        }
        Err(StoreError::Conflict(
            "the audit log is too busy; try again".into(),
        ))
    }

    async fn append_audit_batch(
        &self,
        entries: &[NewAuditEntry],
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // As one append: a concurrent writer (another process) that took the next
        // number makes the whole batch retry on the primary key.
        'attempt: for _ in 0..AUDIT_APPEND_ATTEMPTS {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
            let mut prev = match &tail {
                Some(row) => Some((
                    row.try_get::<i64, _>("seq")?,
                    row.try_get::<String, _>("hash")?,
                )),
                None => None,
            };
            let mut written = Vec::with_capacity(entries.len());
            for entry in entries {
                let next = entry.chain_after(prev.as_ref().map(|(s, h)| (*s, h.as_str())));
                let inserted = sqlx::query(
                    "INSERT INTO audit_log (seq, at, session_id, actor, action, detail, prev_hash, hash)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(next.seq)
                .bind(timestamp(next.at))
                .bind(next.session_id.map(|s| s.to_string()))
                .bind(&next.actor)
                .bind(&next.action)
                .bind(&next.detail)
                .bind(&next.prev_hash)
                .bind(&next.hash)
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue 'attempt,
                    Err(e) => return Err(map_write_error(e)),
                }
                prev = Some((next.seq, next.hash.clone()));
                written.push(next);
            }
            tx.commit().await?;
            return Ok(written);
        }
        Err(StoreError::Conflict(
            "the audit log is too busy; try again".into(),
        ))
    }

    async fn audit_log(&self, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let session: Option<String> = row.try_get("session_id")?;
                Ok(AuditEntry {
                    seq: row.try_get("seq")?,
                    at: time_col(row, "at")?,
                    session_id: session
                        .map(|s| Uuid::parse_str(&s).map_err(|e| corrupt("session_id", e)))
                        .transpose()?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    detail: row.try_get("detail")?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            })
            .collect()
    }
}
