//! PostgreSQL: live rooms' state, kept across a restart, and the server's heartbeat.

use super::*;

#[async_trait]
impl LiveStateStore for PgStore {
    async fn save_live_state(
        &self,
        rooms: &[crate::record::LiveRoomRecord],
        forget: &[Uuid],
        beat: crate::record::Heartbeat,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for room in rooms {
            sqlx::query(
                "INSERT INTO live_rooms (room_id, state, saved_at) VALUES ($1, $2, $3)
                 ON CONFLICT (room_id) DO UPDATE SET state = excluded.state, saved_at = excluded.saved_at",
            )
            .bind(room.room_id)
            .bind(&room.state)
            .bind(room.saved_at)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        for room in forget {
            sqlx::query("DELETE FROM live_rooms WHERE room_id = $1")
                .bind(room)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO server_heartbeat (id, at, clean_stop) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, clean_stop = excluded.clean_stop",
        )
        .bind(beat.at)
        .bind(beat.clean_stop)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn live_rooms(&self) -> Result<Vec<crate::record::LiveRoomRecord>, StoreError> {
        sqlx::query("SELECT * FROM live_rooms ORDER BY saved_at, room_id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(crate::record::LiveRoomRecord {
                    room_id: row.try_get("room_id")?,
                    state: row.try_get("state")?,
                    saved_at: row.try_get("saved_at")?,
                })
            })
            .collect()
    }

    async fn last_heartbeat(&self) -> Result<Option<crate::record::Heartbeat>, StoreError> {
        sqlx::query("SELECT at, clean_stop FROM server_heartbeat WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| {
                Ok(crate::record::Heartbeat {
                    at: row.try_get("at")?,
                    clean_stop: row.try_get("clean_stop")?,
                })
            })
            .transpose()
    }
}
