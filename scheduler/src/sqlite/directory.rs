//! SQLite: the directory: organisations, people, programmes, projects, rooms, panels, conflicts of interest, availability, and the bulk import into them.

use super::*;

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn create_organisation(&self, name: &str) -> Result<Organisation, StoreError> {
        let org = Organisation {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
        };
        sqlx::query("INSERT INTO organisations (id, name) VALUES (?, ?)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(org)
    }

    async fn create_person(&self, new: &NewPerson) -> Result<Person, StoreError> {
        let person = Person {
            id: Uuid::new_v4(),
            name: new.name.as_str().to_owned(),
            email: new.email.clone(),
            organisation_id: new.organisation,
            roles: new.roles.clone(),
            fields: new.fields.clone(),
            time_zone: new.time_zone.name().to_owned(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(person.id.to_string())
        .bind(&person.name)
        .bind(&person.email)
        .bind(person.organisation_id.map(|o| o.to_string()))
        .bind(person.fields.join("|"))
        .bind(&person.time_zone)
        .execute(&mut *tx)
        .await
        .map_err(map_write_error)?;
        for role in &person.roles {
            sqlx::query("INSERT INTO person_roles (person_id, role) VALUES (?, ?)")
                .bind(person.id.to_string())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(person)
    }

    async fn person(&self, id: Uuid) -> Result<Person, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, email, organisation_id, fields, time_zone FROM people WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        let roles: Vec<String> =
            sqlx::query_scalar("SELECT role FROM person_roles WHERE person_id = ? ORDER BY role")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let fields: String = row.try_get("fields")?;
        Ok(Person {
            id,
            name: row.try_get("name")?,
            email: row.try_get("email")?,
            organisation_id: opt_uuid_col(&row, "organisation_id")?,
            roles: roles
                .iter()
                .filter_map(|r| Role::from_str(r).ok())
                .collect(),
            fields: fields
                .split('|')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            time_zone: row.try_get("time_zone")?,
        })
    }

    async fn create_programme(
        &self,
        name: &str,
        min_panel_size: i64,
        max_panel_size: i64,
    ) -> Result<Programme, StoreError> {
        let programme = Programme {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            min_panel_size,
            max_panel_size,
        };
        sqlx::query(
            "INSERT INTO programmes (id, name, min_panel_size, max_panel_size) VALUES (?, ?, ?, ?)",
        )
        .bind(programme.id.to_string())
        .bind(&programme.name)
        .bind(min_panel_size)
        .bind(max_panel_size)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(programme)
    }

    async fn create_project(&self, new: &NewProject) -> Result<Project, StoreError> {
        let project = Project {
            id: Uuid::new_v4(),
            code: new.code.clone(),
            title: new.title.clone(),
            programme_id: new.programme,
            applicant_id: new.applicant,
            organisation_id: new.organisation,
            field: new.field.clone(),
        };
        sqlx::query(
            "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(project.id.to_string())
        .bind(&project.code)
        .bind(&project.title)
        .bind(project.programme_id.to_string())
        .bind(project.applicant_id.to_string())
        .bind(project.organisation_id.to_string())
        .bind(&project.field)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(project)
    }

    async fn declare_conflict(
        &self,
        expert: Uuid,
        target: ConflictTarget,
        reason: &str,
    ) -> Result<(), StoreError> {
        let (project, organisation) = match target {
            ConflictTarget::Project(p) => (Some(p.to_string()), None),
            ConflictTarget::Organisation(o) => (None, Some(o.to_string())),
        };
        sqlx::query(
            "INSERT INTO conflicts_of_interest (id, expert_id, project_id, organisation_id, reason)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(expert.to_string())
        .bind(project)
        .bind(organisation)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(map_write_error)?;
        Ok(())
    }

    async fn create_room(&self, name: &str) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        sqlx::query("INSERT INTO rooms (id, name) VALUES (?, ?)")
            .bind(id.to_string())
            .bind(name.trim())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(id)
    }

    async fn import_snapshot(&self) -> Result<crate::import::Existing, StoreError> {
        let mut existing = crate::import::Existing::default();
        for row in sqlx::query("SELECT id, name FROM organisations")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .organisations
                .insert(row.try_get("name")?, uuid_col(&row, "id")?);
        }
        for row in sqlx::query("SELECT id, name FROM programmes")
            .fetch_all(&self.pool)
            .await?
        {
            existing
                .programmes
                .insert(row.try_get("name")?, uuid_col(&row, "id")?);
        }
        existing.project_codes = sqlx::query_scalar::<_, String>("SELECT code FROM projects")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        for row in
            sqlx::query("SELECT id, lower(email) AS email FROM people WHERE email IS NOT NULL")
                .fetch_all(&self.pool)
                .await?
        {
            existing
                .emails
                .insert(row.try_get("email")?, uuid_col(&row, "id")?);
        }
        Ok(existing)
    }

    async fn apply_import(&self, batch: &crate::import::ImportBatch) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, name) in &batch.organisations {
            sqlx::query("INSERT INTO organisations (id, name) VALUES (?, ?)")
                .bind(id.to_string())
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        for p in &batch.people {
            sqlx::query("INSERT INTO people (id, name, email, organisation_id, fields, time_zone) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(p.id.to_string())
                .bind(p.person.name.as_str())
                .bind(&p.person.email)
                .bind(p.person.organisation.map(|v| v.to_string()))
                .bind(p.person.fields.join("|"))
                .bind(p.person.time_zone.name())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
            for role in &p.person.roles {
                sqlx::query("INSERT INTO person_roles (person_id, role) VALUES (?, ?)")
                    .bind(p.id.to_string())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_write_error)?;
            }
        }
        for project in &batch.projects {
            sqlx::query(
                "INSERT INTO projects (id, code, title, programme_id, applicant_id, organisation_id, field) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(&project.code)
            .bind(&project.title)
            .bind(project.programme.to_string())
            .bind(project.applicant.to_string())
            .bind(project.organisation.to_string())
            .bind(&project.field)
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        sqlx::query("SELECT id, name FROM organisations ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Organisation {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn people(&self) -> Result<Vec<Person>, StoreError> {
        let mut roles: std::collections::HashMap<Uuid, Vec<Role>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT person_id, role FROM person_roles ORDER BY role")
            .fetch_all(&self.pool)
            .await?
        {
            let role: String = row.try_get("role")?;
            if let Ok(role) = Role::from_str(&role) {
                roles
                    .entry(uuid_col(&row, "person_id")?)
                    .or_default()
                    .push(role);
            }
        }
        sqlx::query("SELECT id, name, email, organisation_id, fields, time_zone FROM people ORDER BY name, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = uuid_col(row, "id")?;
                let fields: String = row.try_get("fields")?;
                Ok(Person {
                    id,
                    name: row.try_get("name")?,
                    email: row.try_get("email")?,
                    organisation_id: opt_uuid_col(row, "organisation_id")?,
                    roles: roles.remove(&id).unwrap_or_default(),
                    fields: fields
                        .split('|')
                        .filter(|f| !f.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    time_zone: row.try_get("time_zone")?,
                })
            })
            .collect()
    }

    async fn programmes(&self) -> Result<Vec<Programme>, StoreError> {
        sqlx::query("SELECT id, name, min_panel_size, max_panel_size FROM programmes ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Programme {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                    min_panel_size: row.try_get("min_panel_size")?,
                    max_panel_size: row.try_get("max_panel_size")?,
                })
            })
            .collect()
    }

    async fn projects(&self) -> Result<Vec<Project>, StoreError> {
        sqlx::query(
            "SELECT id, code, title, programme_id, applicant_id, organisation_id, field FROM projects ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Project {
                id: uuid_col(row, "id")?,
                code: row.try_get("code")?,
                title: row.try_get("title")?,
                programme_id: uuid_col(row, "programme_id")?,
                applicant_id: uuid_col(row, "applicant_id")?,
                organisation_id: uuid_col(row, "organisation_id")?,
                field: row.try_get("field")?,
            })
        })
        .collect()
    }

    async fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        sqlx::query("SELECT id, name FROM rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                Ok(Room {
                    id: uuid_col(row, "id")?,
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    async fn create_panel(
        &self,
        name: &str,
        chair: Option<Uuid>,
        members: &[Uuid],
    ) -> Result<Panel, StoreError> {
        if let Some(chair) = chair
            && !members.contains(&chair)
        {
            return Err(StoreError::Conflict(
                "the chair must be a member of the panel".into(),
            ));
        }
        let panel = Panel {
            id: Uuid::new_v4(),
            name: name.trim().to_owned(),
            chair_id: chair,
            members: members.to_vec(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO panels (id, name, chair_id) VALUES (?, ?, ?)")
            .bind(panel.id.to_string())
            .bind(&panel.name)
            .bind(panel.chair_id.map(|v| v.to_string()))
            .execute(&mut *tx)
            .await
            .map_err(map_write_error)?;
        for member in members {
            sqlx::query("INSERT INTO panel_members (panel_id, person_id) VALUES (?, ?)")
                .bind(panel.id.to_string())
                .bind(member.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_write_error)?;
        }
        tx.commit().await?;
        Ok(panel)
    }

    async fn panels(&self) -> Result<Vec<Panel>, StoreError> {
        let mut members: std::collections::HashMap<Uuid, Vec<Uuid>> =
            std::collections::HashMap::new();
        for row in sqlx::query("SELECT panel_id, person_id FROM panel_members")
            .fetch_all(&self.pool)
            .await?
        {
            members
                .entry(uuid_col(&row, "panel_id")?)
                .or_default()
                .push(uuid_col(&row, "person_id")?);
        }
        sqlx::query("SELECT id, name, chair_id FROM panels ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let id = uuid_col(row, "id")?;
                let mut m = members.remove(&id).unwrap_or_default();
                m.sort();
                Ok(Panel {
                    id,
                    name: row.try_get("name")?,
                    chair_id: opt_uuid_col(row, "chair_id")?,
                    members: m,
                })
            })
            .collect()
    }

    async fn conflicts(&self) -> Result<Vec<(Uuid, ConflictTarget)>, StoreError> {
        sqlx::query("SELECT expert_id, project_id, organisation_id FROM conflicts_of_interest")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let expert = uuid_col(row, "expert_id")?;
                let project: Option<Uuid> = opt_uuid_col(row, "project_id")?;
                let organisation: Option<Uuid> = opt_uuid_col(row, "organisation_id")?;
                let target = match (project, organisation) {
                    (Some(p), _) => ConflictTarget::Project(p),
                    (None, Some(o)) => ConflictTarget::Organisation(o),
                    (None, None) => return Err(corrupt("conflicts_of_interest", "no target")),
                };
                Ok((expert, target))
            })
            .collect()
    }

    async fn add_window(&self, w: &crate::model::AvailabilityWindow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO availability_windows (id, person_id, kind, starts_at, ends_at) VALUES (?, ?, ?, ?, ?)")
            .bind(Uuid::new_v4().to_string())
            .bind(w.person_id.to_string())
            .bind(w.kind.as_str())
            .bind(w.starts_at.timestamp())
            .bind(w.ends_at.timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        Ok(())
    }

    async fn windows(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::model::AvailabilityWindow>, StoreError> {
        sqlx::query("SELECT person_id, kind, starts_at, ends_at FROM availability_windows WHERE starts_at < ? AND ? < ends_at")
            .bind(to.timestamp())
            .bind(from.timestamp())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(crate::model::AvailabilityWindow {
                    person_id: uuid_col(row, "person_id")?,
                    kind: if kind == "preferred" { crate::model::WindowKind::Preferred } else { crate::model::WindowKind::Unavailable },
                    starts_at: DateTime::from_timestamp(row.try_get("starts_at")?, 0).unwrap_or_default(),
                    ends_at: DateTime::from_timestamp(row.try_get("ends_at")?, 0).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn set_programme_criteria(
        &self,
        programme: Uuid,
        criteria: &[Criterion],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(criteria).map_err(|e| corrupt("criteria", e))?;
        let done = sqlx::query("UPDATE programmes SET criteria = ? WHERE id = ?")
            .bind(json)
            .bind(programme.to_string())
            .execute(&self.pool)
            .await
            .map_err(map_write_error)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
