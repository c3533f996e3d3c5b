//! PostgreSQL: sessions and their participants: booking, moving, cancelling, removing and revoking, the invitations sent, defense days, and whether a session is recorded.

use super::*;

#[async_trait]
impl BookingStore for PgStore {
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
        let mut attempt = 0;
        loop {
            let mut tx = self.pool.begin().await?;
            Self::check_panel_size(&mut tx, new).await?;
            match Self::write_booking(&mut tx, &session, new, &claims).await {
                Ok(participants) => {
                    tx.commit().await?;
                    return Ok((session, participants));
                }
                Err(e) if is_retryable(&e) && attempt + 1 < BOOKING_ATTEMPTS => {
                    drop(tx);
                    attempt += 1;
                    backoff(attempt).await;
                }
                Err(e) => {
                    drop(tx);
                    return Err(match integrity_refusal(&e) {
                        Some("double_booking") => {
                            self.describe_double_booking(session.id, &claims).await
                        }
                        Some(_) => self.describe_conflict_of_interest(new).await,
                        None => map_write_error(e),
                    });
                }
            }
        }
    }

    async fn session(&self, id: Uuid) -> Result<Session, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        session_from_row(&row)
    }

    async fn participants(&self, session_id: Uuid) -> Result<Vec<Participant>, StoreError> {
        sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants
             WHERE session_id = $1 AND removed_at IS NULL ORDER BY position"
        ))
        .bind(session_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(participant_from_row)
        .collect()
    }

    async fn participant(&self, id: Uuid) -> Result<Participant, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM session_participants WHERE id = $1"
        ))
        .bind(id)
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
        sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE starts_at >= $1 AND starts_at < $2 ORDER BY starts_at"
        ))
        .bind(from)
        .bind(to)
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
        let mut tx = self.pool.begin().await?;
        let buffer: Option<i32> = sqlx::query_scalar(
            "UPDATE sessions SET starts_at = $1, duration_minutes = $2, sequence = sequence + 1
             WHERE id = $3 AND cancelled_at IS NULL RETURNING buffer_minutes",
        )
        .bind(starts_at)
        .bind(duration_minutes as i32)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_write_error)?;
        let buffer = buffer.ok_or(StoreError::NotFound)?;
        let until = starts_at + Duration::minutes(duration_minutes + i64::from(buffer));
        let resources: Vec<String> =
            sqlx::query_scalar("SELECT resource FROM resource_claims WHERE session_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        let mut sorted = resources.clone();
        sorted.sort();
        let locks: Vec<Claim> = sorted
            .into_iter()
            .map(|resource| Claim {
                resource,
                from: starts_at,
                until,
            })
            .collect();
        Self::lock_resources(&mut tx, &locks).await?;
        let moved = sqlx::query(
            "UPDATE resource_claims SET during = tstzrange($1, $2) WHERE session_id = $3",
        )
        .bind(starts_at)
        .bind(until)
        .bind(id)
        .execute(&mut *tx)
        .await;
        if let Err(e) = moved {
            drop(tx);
            let claims: Vec<Claim> = resources
                .into_iter()
                .map(|resource| Claim {
                    resource,
                    from: starts_at,
                    until,
                })
                .collect();
            return Err(match integrity_refusal(&e) {
                Some(_) => self.describe_double_booking(id, &claims).await,
                None => map_write_error(e),
            });
        }
        tx.commit().await?;
        self.session(id).await
    }

    async fn cancel_session(&self, id: Uuid) -> Result<Session, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE sessions SET cancelled_at = now(), sequence = sequence + 1
             WHERE id = $1 AND cancelled_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM resource_claims WHERE session_id = $1")
            .bind(id)
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
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE session_participants SET removed_at = now(), link_generation = link_generation + 1
             WHERE id = $1 AND session_id = $2 AND removed_at IS NULL",
        )
        .bind(participant)
        .bind(session)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // Their person's time is released unless another seat of the session is theirs.
        sqlx::query(
            "DELETE FROM resource_claims
             WHERE session_id = $1
               AND resource = (SELECT 'person:' || person_id FROM session_participants WHERE id = $2)
               AND NOT EXISTS (
                   SELECT 1 FROM session_participants o
                   WHERE o.session_id = $1 AND o.removed_at IS NULL
                     AND o.person_id = (SELECT person_id FROM session_participants WHERE id = $2))",
        )
        .bind(session)
        .bind(participant)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE sessions SET sequence = sequence + 1 WHERE id = $1")
            .bind(session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.participant(participant).await
    }

    async fn revoke_participant_links(&self, participant: Uuid) -> Result<Participant, StoreError> {
        let done = sqlx::query(
            "UPDATE session_participants SET link_generation = link_generation + 1
             WHERE id = $1 AND removed_at IS NULL",
        )
        .bind(participant)
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
                "INSERT INTO notifications (id, session_id, participant_id, kind, sequence, channel, ics)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(n.id)
            .bind(n.session_id)
            .bind(n.participant_id)
            .bind(n.kind.as_str())
            .bind(n.sequence as i32)
            .bind(&n.channel)
            .bind(&n.ics)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn notifications(&self, session_id: Uuid) -> Result<Vec<Notification>, StoreError> {
        sqlx::query("SELECT id, session_id, participant_id, kind, sequence, channel, ics FROM notifications WHERE session_id = $1 ORDER BY created_at, id")
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(Notification {
                    id: row.try_get("id")?,
                    session_id: row.try_get("session_id")?,
                    participant_id: row.try_get("participant_id")?,
                    kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
                    sequence: i64::from(row.try_get::<i32, _>("sequence")?),
                    channel: row.try_get("channel")?,
                    ics: row.try_get("ics")?,
                })
            })
            .collect()
    }

    async fn create_defense_day(&self, day: &crate::model::DefenseDay) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO defense_days (id, date, time_zone, day_start, slots, presentation_minutes,
                                       qa_minutes, deliberation_minutes, buffer_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(day.id)
        .bind(day.date)
        .bind(&day.time_zone)
        .bind(&day.day_start)
        .bind(day.slots as i32)
        .bind(day.agenda.presentation_minutes as i32)
        .bind(day.agenda.qa_minutes as i32)
        .bind(day.agenda.deliberation_minutes as i32)
        .bind(day.buffer_minutes as i32)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn set_recording_policy(&self, session: Uuid, record: bool) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recording_policies (session_id, record) VALUES ($1, $2) \
             ON CONFLICT (session_id) DO UPDATE SET record = excluded.record",
        )
        .bind(session)
        .bind(record)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn recording_policy(&self, session: Uuid) -> Result<Option<bool>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT record FROM recording_policies WHERE session_id = $1")
                .bind(session)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
