//! SQLite: sessions and their participants: booking, moving, cancelling, removing and revoking, the invitations sent, defense days, and whether a session is recorded.

use super::*;

#[async_trait]
impl BookingStore for SqliteStore {
    async fn create_session(
        &self,
        new: &NewSession,
    ) -> Result<(Session, Vec<Participant>), StoreError> {
        let session = Session {
            id: Uuid::new_v4(),
            title: new.title.as_str().to_owned(),
            kind: new.kind,
            starts_at: new.starts_at,
            duration_minutes: new.duration.num_minutes(),
            time_zone: new.time_zone.name().to_owned(),
            project_id: new.project,
            room_id: new.room,
            buffer_minutes: new.buffer.num_minutes(),
            sequence: 0,
            cancelled: false,
            agenda: new.agenda,
            panel_id: new.panel,
            defense_day_id: new.defense_day,
        };
        let claims = claims_of(new);
        // IMMEDIATE takes the write lock up front, so concurrent bookings queue instead
        // of failing to upgrade a read lock; the triggers then see every committed claim.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Self::check_panel_size(&mut tx, new).await?;
        let written = match Self::insert_session(&mut tx, &session, new).await {
            Ok(participants) => Self::insert_claims(&mut tx, session.id, &claims)
                .await
                .map(|()| participants),
            Err(e) => Err(e),
        };
        match written {
            Ok(participants) => {
                tx.commit().await?;
                Ok((session, participants))
            }
            Err(e) => {
                drop(tx);
                Err(match trigger_refusal(&e) {
                    Some("double_booking") => {
                        self.describe_double_booking(session.id, &claims).await
                    }
                    Some(_) => self.describe_conflict_of_interest(new).await,
                    None => map_write_error(e),
                })
            }
        }
    }

    async fn session(&self, id: Uuid) -> Result<Session, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        session_from_row(&row)
    }

    async fn participants(&self, session_id: Uuid) -> Result<Vec<Participant>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants
             WHERE session_id = ? AND removed_at IS NULL ORDER BY position"
        ))
        .bind(session_id.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(participant_from_row)
        .collect()
    }

    async fn participant(&self, id: Uuid) -> Result<Participant, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        participant_from_row(&row)
    }

    async fn sessions_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        // RFC 3339 strings in UTC ('+00:00') sort as times.
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE starts_at >= ? AND starts_at < ? ORDER BY starts_at"
        ))
        .bind(from.to_rfc3339())
        .bind(to.to_rfc3339())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn reschedule_session(
        &self,
        id: Uuid,
        starts_at: DateTime<Utc>,
        duration_minutes: i64,
    ) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE sessions SET starts_at = ?, duration_minutes = ?, sequence = sequence + 1
             WHERE id = ? AND cancelled_at IS NULL",
        )
        .bind(starts_at.to_rfc3339())
        .bind(duration_minutes)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let buffer: i64 = sqlx::query_scalar("SELECT buffer_minutes FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let (from, until) = (
            starts_at.timestamp(),
            starts_at.timestamp() + (duration_minutes + buffer) * 60,
        );
        let resources: Vec<String> =
            sqlx::query_scalar("SELECT resource FROM resource_claims WHERE session_id = ?")
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?;
        let claims: Vec<Claim> = resources
            .into_iter()
            .map(|resource| Claim {
                resource,
                starts_at: from,
                ends_at: until,
            })
            .collect();
        let moved = sqlx::query(
            "UPDATE resource_claims SET starts_at = ?, ends_at = ? WHERE session_id = ?",
        )
        .bind(from)
        .bind(until)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await;
        if let Err(e) = moved {
            drop(tx);
            return Err(match trigger_refusal(&e) {
                Some(_) => self.describe_double_booking(id, &claims).await,
                None => map_write_error(e),
            });
        }
        tx.commit().await?;
        self.session(id).await
    }

    async fn cancel_session(&self, id: Uuid) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE sessions SET cancelled_at = ?, sequence = sequence + 1
             WHERE id = ? AND cancelled_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM resource_claims WHERE session_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.session(id).await
    }

    async fn remove_participant(
        &self,
        session: Uuid,
        participant: Uuid,
    ) -> Result<Participant, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE session_participants SET removed_at = ?, link_generation = link_generation + 1
             WHERE id = ? AND session_id = ? AND removed_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(participant.to_string())
        .bind(session.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Their person's time is released unless another seat of the session is theirs.
        sqlx::query(
            "DELETE FROM resource_claims
             WHERE session_id = ?1
               AND resource = (SELECT 'person:' || person_id FROM session_participants WHERE id = ?2)
               AND NOT EXISTS (
                   SELECT 1 FROM session_participants o
                   WHERE o.session_id = ?1 AND o.removed_at IS NULL
                     AND o.person_id = (SELECT person_id FROM session_participants WHERE id = ?2))",
        )
        .bind(session.to_string())
        .bind(participant.to_string())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET sequence = sequence + 1 WHERE id = ?")
            .bind(session.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.participant(participant).await
    }

    async fn revoke_participant_links(&self, participant: Uuid) -> Result<Participant, StoreError> {
        let done = sqlx::query(
            "UPDATE session_participants SET link_generation = link_generation + 1
             WHERE id = ? AND removed_at IS NULL",
        )
        .bind(participant.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.participant(participant).await
    }

    async fn record_notifications(&self, notifications: &[Notification]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for n in notifications {
            sqlx::query(
                "INSERT INTO notifications (id, session_id, participant_id, kind, sequence, channel, ics, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(n.id.to_string())
            .bind(n.session_id.to_string())
            .bind(n.participant_id.to_string())
            .bind(n.kind.as_str())
            .bind(n.sequence)
            .bind(&n.channel)
            .bind(&n.ics)
            .bind(Utc::now().to_rfc3339())
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(&self, session_id: Uuid) -> Result<Vec<Notification>, StoreError> {
        sqlx::query("SELECT id, session_id, participant_id, kind, sequence, channel, ics FROM notifications WHERE session_id = ? ORDER BY created_at, rowid")
            .bind(session_id.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Notification {
                    id: uuid_col(row, "id")?,
                    session_id: uuid_col(row, "session_id")?,
                    participant_id: uuid_col(row, "participant_id")?,
                    kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                    sequence: row.try_get("sequence")?,
                    channel: row.try_get("channel")?,
                    ics: row.try_get("ics")?,
                })
            })
            .collect()
    }

    async fn create_defense_day(&self, day: &crate::model::DefenseDay) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO defense_days (id, date, time_zone, day_start, slots, presentation_minutes,
                                       qa_minutes, deliberation_minutes, buffer_minutes, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(day.id.to_string())
        .bind(day.date.to_string())
        .bind(&day.time_zone)
        .bind(&day.day_start)
        .bind(day.slots)
        .bind(day.agenda.presentation_minutes)
        .bind(day.agenda.qa_minutes)
        .bind(day.agenda.deliberation_minutes)
        .bind(day.buffer_minutes)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn set_recording_policy(&self, session: Uuid, record: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_policies (session_id, record) VALUES (?, ?) \
             ON CONFLICT (session_id) DO UPDATE SET record = excluded.record",
        )
        .bind(session.to_string())
        .bind(record)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_policy(&self, session: Uuid) -> Result<Option<bool>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT record FROM recording_policies WHERE session_id = ?")
                .bind(session.to_string())
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
